"""Seeded mutations of claim inputs, the way a careless export or an attacker would damage them (issue 11).

Every mutator takes a ``random.Random`` and the text, and returns new text; the same seed gives the same inputs,
so a failure found in CI is reproduced by its seed and index alone. The X12 mutators work on segments and
elements found with the file's own ISA delimiters; the others are plain text edits that fit any format.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Callable
from typing import Any

import yaml

Mutator = Callable[[random.Random, str], str]

# libyaml when the wheel has it: the pure-Python loader makes input generation, not the readers, the slow part.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

# Values that have broken parsers before: past Int64 / Decimal128, past Python's 4,300-digit int limit, floats
# Python accepts and money must not, dates that do not exist, markup the terminal renders, control characters.
HOSTILE_VALUES = (
    "", " ", "0", "-1", "-0.01", "9" * 19, "9" * 20, "92233720368547758070", "1" + "0" * 40,
    "0." + "0" * 45 + "1", "1" * 4400, "1e400", "1E+999999", "-1e308", "NaN", "nan", "Infinity", "-inf",
    "2.00000000000000001", "1e20", "10000000", "1000000000000000000", str(2**63), "0x1F", "1_000",
    "20260230", "2026-02-30", "99991301", "00000000", "20261231-20260101",
    "[/]", "[bold]x", "\x00", "\x1b[31m", "\u202e", "\ufeff", "é", "\U0001f600", "../../etc/passwd", "/abs/path/evil",
    "A" * 300, "٣", "١٢٣٤٥", "²", "１２", "1.5", "1,5", " 12 ", "+12", "12-", "&", "~", "*", ":", "^", ">", "|",
)

NUMBERS = tuple(v for v in HOSTILE_VALUES if v[:1].isdigit() or v[:1] in "-+NIn")

# Digits that are not ASCII but that \d and int() accept: Arabic-Indic, Extended Arabic-Indic, Devanagari, fullwidth.
UNICODE_DIGITS = ("٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹", "०१२३४५६७८९", "０１２３４５６７８９")
SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")

CHARACTERS = "~*:^>|\n\r\t \x00\x7f\x85\u2028'\"[]{}&!%#-.,;0123456789AZaz" + "é٣²１\u200b\ufeff"


# ---------------------------------------------------------------------------------------------------- any text


def flip(rng: random.Random, text: str) -> str:
    """Replace one to three characters with delimiters, digits, controls or non-ASCII characters."""
    chars = list(text)
    for _ in range(rng.randint(1, 3)):
        if chars:
            chars[rng.randrange(len(chars))] = rng.choice(CHARACTERS)
    return "".join(chars)


def truncate(rng: random.Random, text: str) -> str:
    return text[: rng.randrange(len(text) + 1)]


def delete_chunk(rng: random.Random, text: str) -> str:
    if not text:
        return text
    start = rng.randrange(len(text))
    return text[:start] + text[start + rng.randint(1, 40):]


def duplicate_chunk(rng: random.Random, text: str) -> str:
    if not text:
        return text
    start = rng.randrange(len(text))
    chunk = text[start:start + rng.randint(1, 80)]
    at = rng.randrange(len(text) + 1)
    return text[:at] + chunk * rng.randint(1, 3) + text[at:]


def digits_to_unicode(rng: random.Random, text: str) -> str:
    """Rewrite one run of ASCII digits in Arabic-Indic, Devanagari, fullwidth or superscript digits."""
    runs = _digit_runs(text)
    if not runs:
        return text
    start, end = rng.choice(runs)
    if rng.random() < 0.25:
        converted = text[start:end].translate(SUPERSCRIPT)
    else:
        table = str.maketrans("0123456789", rng.choice(UNICODE_DIGITS))
        converted = text[start:end].translate(table)
    return text[:start] + converted + text[end:]


def huge_number(rng: random.Random, text: str) -> str:
    """Replace one run of digits with a hostile number (huge, tiny, exponent, NaN, negative, 4,400 digits)."""
    runs = _digit_runs(text)
    if not runs:
        return text
    start, end = rng.choice(runs)
    value = rng.choice(NUMBERS)
    return text[:start] + value + text[end:]


def _digit_runs(text: str) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(text):
        if "0" <= text[i] <= "9":
            j = i
            while j < len(text) and "0" <= text[j] <= "9":
                j += 1
            runs.append((i, j))
            i = j
        else:
            i += 1
    return runs


GENERIC: tuple[Mutator, ...] = (flip, truncate, delete_chunk, duplicate_chunk, digits_to_unicode, huge_number)


# ---------------------------------------------------------------------------------------------------------- X12


def _delimiters(text: str) -> tuple[str, str, str] | None:
    start = text.find("ISA")
    if start < 0 or len(text) < start + 106:
        return None
    element = text[start + 3]
    position = start + 3
    try:
        for _ in range(16):
            position = text.index(element, position) + 1
    except ValueError:
        return None
    if position + 1 >= len(text):
        return None
    return element, text[position], text[position + 1]


def _split(text: str) -> tuple[list[str], str, str, str] | None:
    found = _delimiters(text)
    if found is None:
        return None
    element, component, terminator = found
    segments = text.split(terminator)
    return segments, element, component, terminator


def _body_index(rng: random.Random, segments: list[str]) -> int | None:
    """A segment other than the ISA (whose fixed layout every mutation would just break at the first byte)."""
    candidates = [i for i, s in enumerate(segments) if s.strip() and not s.strip().startswith("ISA")]
    return rng.choice(candidates) if candidates else None


def x12_delete_segment(rng: random.Random, text: str) -> str:
    parts = _split(text)
    if parts is None:
        return text
    segments, _, _, terminator = parts
    index = _body_index(rng, segments)
    if index is not None:
        del segments[index]
    return terminator.join(segments)


def x12_duplicate_segment(rng: random.Random, text: str) -> str:
    parts = _split(text)
    if parts is None:
        return text
    segments, _, _, terminator = parts
    index = _body_index(rng, segments)
    if index is not None:
        at = index if rng.random() < 0.6 else rng.randrange(1, len(segments))
        segments[at:at] = [segments[index]] * rng.randint(1, 3)
    return terminator.join(segments)


def x12_swap_segments(rng: random.Random, text: str) -> str:
    parts = _split(text)
    if parts is None:
        return text
    segments, _, _, terminator = parts
    a, b = _body_index(rng, segments), _body_index(rng, segments)
    if a is not None and b is not None:
        segments[a], segments[b] = segments[b], segments[a]
    return terminator.join(segments)


def _element_edit(rng: random.Random, text: str, edit: Callable[[list[str], int], None]) -> str:
    parts = _split(text)
    if parts is None:
        return text
    segments, element, _, terminator = parts
    index = _body_index(rng, segments)
    if index is None:
        return text
    elements = segments[index].split(element)
    if len(elements) > 1:
        edit(elements, rng.randrange(1, len(elements)))
    segments[index] = element.join(elements)
    return terminator.join(segments)


def x12_delete_element(rng: random.Random, text: str) -> str:
    def delete(elements: list[str], i: int) -> None:
        del elements[i]
    return _element_edit(rng, text, delete)


def x12_empty_element(rng: random.Random, text: str) -> str:
    def empty(elements: list[str], i: int) -> None:
        elements[i] = ""
    return _element_edit(rng, text, empty)


def x12_duplicate_element(rng: random.Random, text: str) -> str:
    return _element_edit(rng, text, lambda elements, i: elements.insert(i, elements[i]))


def x12_hostile_element(rng: random.Random, text: str) -> str:
    def hostile(elements: list[str], i: int) -> None:
        elements[i] = rng.choice(HOSTILE_VALUES)
    return _element_edit(rng, text, hostile)


MONEY_SEGMENTS = ("CLM", "SV1", "CLP", "SVC", "CAS", "BPR", "AMT", "PLB", "HCP", "QTY", "SBR", "CN1")


def x12_hostile_amount(rng: random.Random, text: str) -> str:
    """Put a hostile number in a numeric element of a money or quantity segment (charges, units, CAS amounts)."""
    parts = _split(text)
    if parts is None:
        return text
    segments, element, _, terminator = parts
    numeric = [(i, j) for i, s in enumerate(segments) if s.strip().split(element)[0] in MONEY_SEGMENTS
               for j, e in enumerate(s.split(element)) if j and e.replace(".", "", 1).lstrip("-").isdigit()]
    if not numeric:
        return text
    i, j = rng.choice(numeric)
    elements = segments[i].split(element)
    elements[j] = rng.choice(NUMBERS)
    segments[i] = element.join(elements)
    return terminator.join(segments)


def x12_hostile_component(rng: random.Random, text: str) -> str:
    """Damage one part of a composite (SV101, CLM05, HI01, SVC01): the code, a modifier, a pointer."""
    parts = _split(text)
    if parts is None:
        return text
    segments, element, component, terminator = parts
    composites = [(i, j) for i, s in enumerate(segments) for j, e in enumerate(s.split(element)) if component in e]
    if not composites:
        return text
    i, j = rng.choice(composites)
    elements = segments[i].split(element)
    pieces = elements[j].split(component)
    k = rng.randrange(len(pieces))
    choice = rng.random()
    if choice < 0.5:
        pieces[k] = rng.choice(HOSTILE_VALUES)
    elif choice < 0.75:
        pieces.insert(k, pieces[k])
    else:
        pieces.pop(k)
    elements[j] = component.join(pieces)
    segments[i] = element.join(elements)
    return terminator.join(segments)


def x12_swap_delimiters(rng: random.Random, text: str) -> str:
    """Exchange two delimiters in the body, or use another one than the ISA declares (a careless export)."""
    found = _delimiters(text)
    if found is None:
        return text
    element, component, terminator = found
    isa_end = text.find(terminator, text.find("ISA")) + 1
    head, body = text[:isa_end], text[isa_end:]
    pair = rng.choice([(element, component), (component, terminator), (element, terminator),
                       (component, ">"), (component, "^"), (terminator, "\n"), (element, "|")])
    a, b = pair
    body = body.replace(a, "\0").replace(b, a).replace("\0", b) if rng.random() < 0.5 else body.replace(a, b)
    return head + body


def x12_truncate_segments(rng: random.Random, text: str) -> str:
    parts = _split(text)
    if parts is None:
        return text
    segments, _, _, terminator = parts
    return terminator.join(segments[: rng.randrange(1, len(segments) + 1)])


def x12_repeat_claim(rng: random.Random, text: str) -> str:
    """Repeat the 2300 loop from a CLM to the next HL or SE a few dozen times (same CLM01: duplicates)."""
    parts = _split(text)
    if parts is None:
        return text
    segments, element, _, terminator = parts
    starts = [i for i, s in enumerate(segments) if s.strip().startswith(("CLM" + element, "CLP" + element))]
    if not starts:
        return text
    start = rng.choice(starts)
    end = start + 1
    while end < len(segments) and not segments[end].strip().startswith(
            ("HL" + element, "SE" + element, "CLM" + element, "CLP" + element, "LX" + element)):
        end += 1
    block = segments[start:end]
    segments[end:end] = block * rng.randint(1, 40)
    return terminator.join(segments)


X12: tuple[Mutator, ...] = (
    x12_delete_segment, x12_duplicate_segment, x12_swap_segments, x12_delete_element, x12_empty_element,
    x12_duplicate_element, x12_hostile_element, x12_hostile_element, x12_hostile_component, x12_hostile_component,
    x12_hostile_amount, x12_hostile_amount,
    x12_swap_delimiters, x12_truncate_segments, x12_repeat_claim,
)


# ------------------------------------------------------------------------------------------------ YAML and JSON


def _leaves(data: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    if isinstance(data, dict):
        return [p for key, value in data.items() for p in _leaves(value, (*path, key))] + ([path] if path else [])
    if isinstance(data, list):
        return [p for i, value in enumerate(data) for p in _leaves(value, (*path, i))] + ([path] if path else [])
    return [path]


def _set(data: Any, path: tuple[Any, ...], value: object) -> None:
    target = data
    for key in path[:-1]:
        target = target[key]
    if isinstance(target, dict | list):
        target[path[-1]] = value


def _delete(data: Any, path: tuple[Any, ...]) -> None:
    target = data
    for key in path[:-1]:
        target = target[key]
    if isinstance(target, dict):
        target.pop(path[-1], None)
    elif isinstance(target, list) and isinstance(path[-1], int) and len(target) > 1:
        target.pop(path[-1])


def _structured(rng: random.Random, text: str, dump: Callable[[object], str]) -> str:
    """Edit the parsed document (when an earlier mutation left it parseable) and write it back."""
    if len(text) > 20_000:  # already made huge or deep by an earlier mutation: parsing it again only costs time
        return flip(rng, text)
    try:
        data = json.loads(text) if text.lstrip()[:1] in "[{" else yaml.load(text, Loader=_LOADER)
    except (yaml.YAMLError, RecursionError, ValueError):
        return flip(rng, text)
    paths = [p for p in _leaves(data) if p]
    if not paths:
        return text
    path = rng.choice(paths)
    choice = rng.random()
    if choice < 0.55:
        text_value = rng.choice(HOSTILE_VALUES)
        value: object = text_value
        if rng.random() < 0.4:  # the same value as a YAML/JSON number rather than a string
            with contextlib.suppress(ValueError):
                value = int(text_value) if text_value.lstrip("-").isdigit() and len(text_value) < 4000 \
                    else float(text_value)
        _set(data, path, value)
    elif choice < 0.7:
        _delete(data, path)
    elif choice < 0.85:
        _set(data, path, rng.choice([[], {}, None, True, [1, 2], {"a": 1}, [[[]]], "x"]))
    else:
        _set(data, path, _deep(rng.randint(20, 60)))
    try:
        return dump(data)
    except (yaml.YAMLError, RecursionError, ValueError, TypeError):
        return text


def _deep(depth: int) -> object:
    value: object = "x"
    for _ in range(depth):
        value = [value]
    return value


def yaml_value(rng: random.Random, text: str) -> str:
    return _structured(rng, text, lambda d: yaml.dump(d, Dumper=_DUMPER, sort_keys=False, allow_unicode=True))


def json_value(rng: random.Random, text: str) -> str:
    return _structured(rng, text, lambda d: json.dumps(d, ensure_ascii=False, default=str))


def yaml_raw_scalar(rng: random.Random, text: str) -> str:
    """Put a hostile scalar unquoted after a key, so YAML itself types it (a date 2026-02-30, 1e400, .nan)."""
    lines = text.splitlines()
    keyed = [i for i, line in enumerate(lines) if ": " in line and not line.rstrip().endswith(":")]
    if not keyed:
        return text
    i = rng.choice(keyed)
    key = lines[i].split(": ", 1)[0]
    value = rng.choice(["2026-02-30", "2026-13-01", "0000-01-01", ".nan", ".inf", "-.inf", "1e400", "0o777",
                        "0x10", "1_000", "'", "[", "{", "*alias", "&anchor", "!!python/object:os.system x",
                        "!!binary AAAA", "~", "null", "yes", "on", "12:30:00", "1" * 5000, "-" + "9" * 30])
    lines[i] = f"{key}: {value}"
    return "\n".join(lines) + "\n"


def yaml_duplicate_key(rng: random.Random, text: str) -> str:
    lines = text.splitlines()
    keyed = [i for i, line in enumerate(lines) if ": " in line]
    if not keyed:
        return text
    i = rng.choice(keyed)
    lines.insert(i + 1, lines[i].split(": ", 1)[0] + ": " + rng.choice(["other", "2", "[]", "x"]))
    return "\n".join(lines) + "\n"


def yaml_alias(rng: random.Random, text: str) -> str:
    """A small alias expansion (a few thousand nodes: enough to show if aliases are followed, not a bomb)."""
    width = rng.randint(2, 4)
    levels = ["a0: &a0 [x, x]"] + [f"a{n}: &a{n} [{', '.join(f'*a{n - 1}' for _ in range(width))}]"
                                   for n in range(1, rng.randint(3, 6))]
    last = levels[-1].split(":")[0]
    lines = text.splitlines()
    keyed = [i for i, line in enumerate(lines) if ": " in line and line.startswith("  ")]
    if keyed:
        i = rng.choice(keyed)
        lines[i] = lines[i].split(": ", 1)[0] + f": *{last}"
    return "\n".join(["x-anchors:", *("  " + level for level in levels), *lines]) + "\n"


def deep_nesting(rng: random.Random, text: str) -> str:
    """Lists or mappings nested hundreds to 100,000 deep (valid JSON and YAML flow style alike)."""
    depth = rng.choice([200, 1_000, 5_000, 100_000])
    opener, closer = rng.choice([("[", "]"), ('{"a": ', "}")])
    nested = opener * depth + closer * depth
    return '{"encounters": ' + nested + "}" if rng.random() < 0.5 else nested


STRUCTURED_YAML: tuple[Mutator, ...] = (yaml_value, yaml_value, yaml_value, yaml_raw_scalar, yaml_duplicate_key,
                                        yaml_alias, deep_nesting)
STRUCTURED_JSON: tuple[Mutator, ...] = (json_value, json_value, json_value, deep_nesting)


# -------------------------------------------------------------------------------------------------------- CSV


def csv_cell(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    rows = [i for i, line in enumerate(lines) if line and i > 0]
    if not rows:
        return text
    i = rng.choice(rows)
    cells = lines[i].split(",")
    value = rng.choice(HOSTILE_VALUES)
    if rng.random() < 0.1:
        value = "x" * 140_000  # past the csv module's default field limit (131,072)
    if "," in value or "\n" in value or '"' in value:
        value = '"' + value.replace('"', '""') + '"'
    cells[rng.randrange(len(cells))] = value
    lines[i] = ",".join(cells)
    return "\n".join(lines)


def csv_header(rng: random.Random, text: str) -> str:
    """Duplicate, drop, rename or reorder a header column (its data stays where it was)."""
    lines = text.split("\n")
    header = lines[0].split(",")
    i = rng.randrange(len(header))
    choice = rng.random()
    if choice < 0.3:
        header[rng.randrange(len(header))] = header[i]
    elif choice < 0.55:
        header.pop(i)
    elif choice < 0.8:
        header[i] = rng.choice(["", " code", "CODE", "code ", "\ufeffencounter_id", "units,units", '"a""b"'])
    else:
        header.append(rng.choice(["extra", "code", ""]))
    lines[0] = ",".join(header)
    return "\n".join(lines)


def csv_rows(rng: random.Random, text: str) -> str:
    """Drop or repeat rows, or add a row with too many or too few fields."""
    lines = text.split("\n")
    if len(lines) < 2:
        return text
    i = rng.randrange(1, len(lines))
    choice = rng.random()
    if choice < 0.3:
        lines.insert(i, lines[i])
    elif choice < 0.5:
        lines.pop(i)
    elif choice < 0.75:
        lines.insert(i, lines[i] + ",extra,fields")
    else:
        lines.insert(i, ",".join(lines[i].split(",")[:2]))
    return "\n".join(lines)


CSV: tuple[Mutator, ...] = (csv_cell, csv_cell, csv_cell, csv_header, csv_rows)


def mutate(rng: random.Random, text: str, mutators: tuple[Mutator, ...], *, rounds: int = 3) -> str:
    """One to ``rounds`` mutations in a row: single faults find most, stacked faults find the rest."""
    for _ in range(rng.randint(1, rounds)):
        text = rng.choice(mutators)(rng, text)
    return text


# ------------------------------------------------------------------------------------------------------ Parquet


def parquet_table(rng: random.Random, text: str) -> bytes:
    """A claim table written as Parquet with real column types: a column retyped (list, array, struct, duration,
    binary that is not UTF-8, null, huge integers, dates) or an extra column of such a type, after the CSV
    mutations have damaged the values. Parquet carries types a CSV cannot, and the reader must refuse each
    one it cannot read with the column named."""
    import datetime as dt
    import io

    import polars as pl

    if rng.random() < 0.5:
        text = mutate(rng, text, CSV, rounds=2)
    try:
        frame = pl.read_csv(io.StringIO(text), infer_schema=False)
    except Exception:  # a CSV mutation the reader of the seed cannot split: start from the seed
        frame = pl.read_csv(io.StringIO(text.split("\n")[0] + "\n"), infer_schema=False)
    height = frame.height
    makers: list[Callable[[], pl.Series]] = [
        lambda: pl.Series([["1", "2"]] * height, dtype=pl.List(pl.String)),
        lambda: pl.Series([[1, 2]] * height, dtype=pl.Array(pl.Int64, 2)),
        lambda: pl.Series([{"a": 1}] * height),
        lambda: pl.Series([dt.timedelta(minutes=30)] * height, dtype=pl.Duration("us")),
        lambda: pl.Series([b"\xff\xfe"] * height, dtype=pl.Binary),
        lambda: pl.Series([None] * height, dtype=pl.Null),
        lambda: pl.Series([2**63 - 1] * height, dtype=pl.Int64),
        lambda: pl.Series([1e308] * height, dtype=pl.Float64),
        lambda: pl.Series([float("nan")] * height, dtype=pl.Float64),
        lambda: pl.Series([dt.date(1, 1, 1)] * height, dtype=pl.Date),
        lambda: pl.Series([True] * height, dtype=pl.Boolean),
        lambda: pl.Series([-5] * height, dtype=pl.Int8),
        lambda: pl.Series(["x"] * height, dtype=pl.Categorical),
    ]
    for _ in range(rng.randint(1, 2)):
        series = rng.choice(makers)()
        if frame.width and rng.random() < 0.75:
            name = rng.choice(frame.columns)
            frame = frame.with_columns(series.alias(name))
        else:
            frame = frame.with_columns(series.alias(rng.choice(["extra", "notes", "units2"])))
    out = io.BytesIO()
    frame.write_parquet(out)
    return out.getvalue()


def parquet_plain(text: str) -> bytes:
    """The seed CSV as a Parquet file of text columns, unmutated (what the seed test reads)."""
    import io

    import polars as pl

    out = io.BytesIO()
    pl.read_csv(io.StringIO(text), infer_schema=False).write_parquet(out)
    return out.getvalue()


def parquet_damaged(rng: random.Random, text: str) -> bytes:
    """A ``.parquet`` file as a batch audit meets it: mostly a retyped table (`parquet_table`), sometimes a file
    that is not what its extension says (truncated in a copy, bytes flipped, a CSV or an 837P renamed, empty)."""
    data = parquet_table(rng, text)
    choice = rng.random()
    if choice < 0.6:
        return data
    if choice < 0.72:
        return data[: rng.randrange(len(data))]
    if choice < 0.84:
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        return bytes(damaged)
    if choice < 0.92:
        return rng.choice([text.encode("utf-8"), b"", b"PAR1", b"ISA*00*", data + data[-64:]])
    return data[:4] + b"\x00" * rng.randint(1, 64) + data[4:]
