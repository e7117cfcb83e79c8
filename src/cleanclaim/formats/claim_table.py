"""Claim-line tables (CSV or Parquet) for batch audits: one row per billed line, rows with the same
``encounter_id`` form one claim (columns in DESIGN.md, "Claim-line tables").

Validation is columnar. A row with an unparsable date, a missing code or a negative unit count is rejected with its
file, row and column; every other row is still checked, and rows read = rows checked + rows rejected. Only the
contract's columns are read: an extra column of any type (a Parquet list, duration or binary column) is kept and
ignored, while a contract column of a type that cannot hold its values is an input error naming it. Errors name the
field but never echo the value of a patient field.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from cleanclaim.errors import InputError, is_phi_field
from cleanclaim.model import MAX_MINUTES, MAX_MONEY, MAX_UNITS, Discipline
from cleanclaim.rules.tables import ENCOUNTER_SCHEMA, LINE_SCHEMA, SMALL_RUN

__all__ = ["REQUIRED_COLUMNS", "TABLE_SUFFIXES", "ClaimTable", "claim_table_from_raw", "read_claim_table"]

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
REQUIRED_COLUMNS = ("encounter_id", "date", "code", "units")
OPTIONAL_COLUMNS = ("payer", "place_of_service", "patient_id", "provider_npi", "provider_discipline", "diagnoses",
                    "modifiers", "minutes", "dx_pointers", "charge", "ndc")
# Claim-level columns a table may carry beyond the contract's; when present they feed the claim-completeness rules.
CLAIM_COLUMNS = ("billing_npi", "subscriber_id", "payer_id", "claim_id", "patient_first_name", "patient_last_name",
                 "patient_birth_date", "patient_sex", "note")
# ``note``: the visit's note, optional, on any line of the claim (the first non-empty one is the claim's), so a batch
# audit can compare notes (cloned-note) as `check` does for encounter files
CONTRACT_COLUMNS = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, *CLAIM_COLUMNS)
_LIST_COLUMNS = frozenset({"modifiers", "dx_pointers", "diagnoses"})
_DATE_COLUMNS = frozenset({"date", "patient_birth_date"})
MAX_LINE_MINUTES = MAX_MINUTES
"""A line's documented minutes cannot exceed the minutes of a day; more is a typo (or an overflow) to report, not
a number to carry into the time arithmetic (the encounter model's bound, model.MAX_MINUTES)."""
MAX_LINE_UNITS = int(MAX_UNITS)
"""A sanity bound on a line's units, not a payer limit (the MUE and units rules judge plausible counts): four digits
are more than any service in cleanclaim's scope bills on one line, and past it the rules' per-unit work grows with
the count (100,000 units took seconds, 10,000,000 did not finish), so a typo is reported on its row instead (the
encounter model's ceiling, model.MAX_UNITS)."""
MAX_LINE_CHARGE = int(MAX_MONEY) + 1  # 10,000,000: MAX_MONEY is 9,999,999.99
"""A line's charge of this many dollars or more is refused: the encounter model's bound (model.MAX_MONEY, which says
why), so a charge is judged alike in a claim table and an encounter file."""
NO_PATIENT_PREFIX = "(no patient id: encounter "
"""Prefix of the patient key of an encounter without a patient id: each such encounter is its own patient, so
claims of unknown patients are never pooled into one same-day patient (false unit and duplicate errors, and a
quadratic blow-up on a large table). The parentheses keep it apart from any real id."""
_LINE_LEVEL = ("date", "payer", "place_of_service", "patient_id", "provider_npi", "provider_discipline", "diagnoses")
_ROW = "__row"


@dataclass
class ClaimTable:
    """Accepted lines and encounters in the rule-table schemas, plus one error per rejected row and column."""

    source: str
    lines: pl.DataFrame
    encounters: pl.DataFrame
    errors: list[InputError] = field(default_factory=list)
    rows_read: int = 0
    rows_rejected: int = 0
    carried: frozenset[str] = frozenset()
    minutes_carried: bool = True
    """Encounter columns the file actually supplies (the rest of the encounter table is null, not missing)."""
    notes: list[InputError] = field(default_factory=list)
    """What the reader had to assume about readable input (said once, not per row): not errors, no exit status."""
    line_rows: pl.Series = field(default_factory=lambda: pl.Series(_ROW, [], dtype=pl.UInt32))
    """The file row of each line of ``lines`` (same order), so that what is found wrong with a line after reading
    (a payer without a profile) is placed on its row."""
    encounter_rows: pl.Series = field(default_factory=lambda: pl.Series(_ROW, [], dtype=pl.UInt32))
    """The file row of each encounter's first line (same order as ``encounters``), where a batch audit puts the
    encounter back in input order."""

    @property
    def rows_checked(self) -> int:
        return self.rows_read - self.rows_rejected


@contextmanager
def _field_limit(size: int) -> Iterator[None]:
    """The csv module refuses a field over 131,072 characters by default; polars reads such a field, so the slow
    path must too (a field can be no longer than the file). The limit is process-wide, hence restored."""
    previous = csv.field_size_limit()
    csv.field_size_limit(min(max(previous, size + 1), sys.maxsize))
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _csv_header(path: Path) -> list[str]:
    """The header row, which must be UTF-8 text: polars reads an undecodable header byte as U+FFFD, so the column
    would be silently renamed (and a contract column then missing or ignored)."""
    with (path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as handle,
          _field_limit(path.stat().st_size)):
        reader = csv.reader(handle)
        header = _next_record(reader, path) or []
    bad = _undecodable(header)
    if bad is not None:
        raise InputError(f"the header is not UTF-8 text (line {1 + bad[1]}); save the file as UTF-8",
                         file=str(path), line=1 + bad[1], row=1)
    return header


def _repeated_columns(header: list[str], source: Path) -> None:
    """Two headers with one contract name: polars renames the second (``code_duplicated_0``), so one column would
    be read and the other silently ignored. Which one was meant cannot be told: the file is refused."""
    counts = Counter(name.strip() for name in header)
    for name in CONTRACT_COLUMNS:
        if counts[name] > 1:
            positions = [str(i) for i, h in enumerate(header, start=1) if h.strip() == name]
            raise InputError(f"the header has {counts[name]} columns named {name} (columns {', '.join(positions)}); "
                             "keep one: which one to read cannot be told", file=str(source), row=1, field=name)


def _read_csv(path: Path) -> tuple[pl.DataFrame, list[InputError]]:
    """The CSV as text columns. polars reads a well-formed file; anything it refuses (a row with too many fields,
    bytes that are not UTF-8, a stray quote, or a panic of its reader) or would pad (a row with too few fields)
    sends the file to ``_read_rows``, which reads it row by row and rejects each bad row with its row and line, so
    one bad row never costs the rest."""
    _repeated_columns(_csv_header(path), path)
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except pl.exceptions.NoDataError as exc:
        if path.stat().st_size == 0:
            raise InputError("the file is empty; a claim-line table needs a header row", file=str(path)) from exc
    except (pl.exceptions.PolarsError, UnicodeDecodeError, pl.exceptions.PanicException):
        pass
    else:
        if not _short_rows(path, frame.width):
            # One chunk per column: a long field splits polars' parallel read into chunks, a filter can then leave
            # an empty first chunk, and pl.format on such a column panics (polars 2.1; see the test of a 140 KB
            # field).
            return frame.rechunk().with_columns(pl.all().fill_null("")), []
    return _read_rows(path)


_QUOTED = r'"(?:[^"]|"")*"'


def _short_rows(path: Path, width: int) -> bool:
    """Whether a row may have fewer fields than the header. polars pads such a row with empty values, so a missing
    field would be read, silently, as not given; the row-by-row reader rejects the row instead. Judged on lines
    (commas outside quotes), which are rows unless a quoted field spans lines: a line with an odd number of quotes
    is left to the row-by-row reader as well."""
    try:
        lines = pl.read_lines(path).get_column("line").slice(1)
    except pl.exceptions.PolarsError:
        return True
    return bool(lines.to_frame().select(short_row(pl.col("line"), width).any()).item())


def short_row(line: pl.Expr, width: int) -> pl.Expr:
    """`_short_rows`'s test of one line of a CSV (not the header), as an expression: a streaming reader of a large
    file (the batch audit) applies it to a scan of the lines."""
    quotes = line.str.count_matches('"', literal=True)
    fields = line.str.replace_all(_QUOTED, "").str.count_matches(",", literal=True) + 1
    return (quotes % 2 == 1) | (fields < width)


def _read_rows(path: Path) -> tuple[pl.DataFrame, list[InputError]]:
    """The slow path: the csv module, one record at a time. Bytes that are not UTF-8 are kept as escapes while
    splitting (the separators are ASCII, so the other rows split as the file means them) and reject their row; a row
    with the wrong number of fields is rejected. Each error names the row (the record number, header = 1) and the
    line where its fault is, which differ once a quoted field spans lines."""
    data = path.read_bytes()
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")  # a BOM, as polars drops it
    errors: list[InputError] = []
    good: list[list[str]] = []
    keep: list[int] = []
    with _field_limit(len(data)):
        reader = csv.reader(io.StringIO(text, newline=""))
        header = _next_record(reader, path) or []  # read and judged by _csv_header already
        number = 1
        first_line = reader.line_num + 1
        while (row := _next_record(reader, path)) is not None:
            number += 1
            bad = _undecodable(row)
            if bad is not None:
                column = header[bad[0]] if bad[0] < len(header) else None
                beyond = "" if column is not None else f" (field {bad[0] + 1}, past the header's {len(header)})"
                errors.append(InputError(f"the row is not UTF-8 text: a byte{beyond} is not part of any UTF-8 "
                                         "character; save the file as UTF-8", file=str(path),
                                         line=first_line + bad[1], row=number, field=column,
                                         encounter=_encounter(header, row)))
            elif len(row) != len(header):
                spans = (f"; a quoted field runs from line {first_line} to line {reader.line_num}, check its quotes"
                         if reader.line_num > first_line else "")
                errors.append(InputError(f"expected {len(header)} fields as in the header, got {len(row)}{spans}",
                                         file=str(path), line=first_line, row=number))
            else:
                good.append(row)
                keep.append(number)
            first_line = reader.line_num + 1
    frame = pl.DataFrame(good, schema=dict.fromkeys(_unique(header), pl.String), orient="row")
    # Row numbers must stay those of the file, so the kept rows carry them.
    return frame.with_columns(pl.Series(_ROW, keep, dtype=pl.UInt32)), errors


def _next_record(reader: Iterator[list[str]], path: Path) -> list[str] | None:
    try:
        return next(reader, None)
    except csv.Error as exc:  # the csv module's own refusal; its message quotes no value
        line = getattr(reader, "line_num", 0)
        raise InputError(f"cannot read the table: {exc}", file=str(path), line=line or 1) from exc


_ESCAPED = re.compile("[\udc80-\udcff]")


def _undecodable(row: list[str]) -> tuple[int, int] | None:
    """Where the first byte that is not UTF-8 is in a record: its field index, and how many line breaks precede it
    within the record (a quoted field may span lines)."""
    breaks = 0
    for index, value in enumerate(row):
        found = _ESCAPED.search(value)
        if found:
            return index, breaks + value.count("\n", 0, found.start())
        breaks += value.count("\n")
    return None


def _encounter(header: list[str], row: list[str]) -> str | None:
    """The encounter id of a rejected row, for its message, when the row has one that is readable."""
    at = header.index("encounter_id") if "encounter_id" in header else len(row)
    value = row[at].strip() if at < len(row) else ""
    return value if value and not _ESCAPED.search(value) else None


def _unique(header: list[str]) -> list[str]:
    """Column names made unique as polars makes them (``note``, ``note_duplicated_0``): a repeated extra column is
    kept and ignored on both paths (a repeated contract column was refused before)."""
    names: list[str] = []
    used: set[str] = set()
    taken = set(header)
    for name in header:
        if name in used:
            suffix = 0
            while f"{name}_duplicated_{suffix}" in taken:
                suffix += 1
            name = f"{name}_duplicated_{suffix}"
            taken.add(name)
        names.append(name)
        used.add(name)
    return names


def _scalar(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or isinstance(dtype, pl.String | pl.Categorical | pl.Enum | pl.Null)


def _as_text(name: str, dtype: pl.DataType, source: Path) -> pl.Expr:
    """A Parquet contract column in the CSV's text form, or an input error naming the column and the types it may
    have (a list, duration or binary ``code`` column cannot hold a code)."""
    column = pl.col(name)
    if _scalar(dtype):
        return column.cast(pl.String)
    if name in _DATE_COLUMNS and isinstance(dtype, pl.Date):
        return column.dt.strftime("%Y-%m-%d")
    if name in _DATE_COLUMNS and isinstance(dtype, pl.Datetime):
        # a timestamp at midnight is a date as a dataframe library writes it; any other time is reported per row
        return (pl.when(column.dt.time() == pl.time(0)).then(column.dt.strftime("%Y-%m-%d"))
                .otherwise(column.cast(pl.String)))
    inner = dtype.inner if isinstance(dtype, pl.List | pl.Array) else None
    if name in _LIST_COLUMNS and isinstance(inner, pl.DataType) and _scalar(inner):
        listed = column.arr.to_list() if isinstance(dtype, pl.Array) else column
        return listed.cast(pl.List(pl.String)).list.join(";")
    expected = ("a date, or text as YYYY-MM-DD" if name in _DATE_COLUMNS
                else "text separated by ';', or a list of text or numbers" if name in _LIST_COLUMNS
                else "text or a number")
    raise InputError(f"column {name} is of type {dtype}; expected {expected}", file=str(source), field=name)


_POINTER_MAX = 999_999_999  # nine digits: the text form's pattern below


def _typed(name: str, dtype: pl.DataType) -> bool:
    """Whether a Parquet contract column is validated in its own type instead of as text: a date column, whole
    numbers or Float64 for units and charge, whole numbers for minutes, a list of whole numbers for dx pointers, a
    list of text for modifiers and diagnoses.
    Each is judged exactly as its text would be (a Float64's text is its shortest decimal, which reads back as the
    same float; a Float32's is not its Float64 value, so it stays text), without writing a million values as text
    to parse them back (1M lines: ~0.5 s of text conversion and ~1 s of parsing)."""
    if name in _DATE_COLUMNS:
        return isinstance(dtype, pl.Date)
    if name in ("units", "charge"):
        return dtype.is_integer() or isinstance(dtype, pl.Float64)
    if name == "minutes":
        return dtype.is_integer()
    if name == "dx_pointers":
        return isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.DataType) and dtype.inner.is_integer()
    if name in ("modifiers", "diagnoses"):
        return isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.String)
    return False


def as_read(schema: pl.Schema, source: Path) -> list[pl.Expr]:
    """The expressions that bring a table's contract columns to what `claim_table_from_raw` reads: text, "" where
    null (`_as_text`), except the columns it validates in their own type (`_typed`)."""
    return [_as_text(name, schema[name], source).fill_null("").alias(name) for name in schema.names()
            if name in CONTRACT_COLUMNS and not _typed(name, schema[name])]


def _read_raw(path: Path) -> tuple[pl.DataFrame, int, list[InputError]]:
    """The file as text columns, the offset from a 0-based data index to the row number users see, and the rows
    that could not even be split into columns."""
    try:
        if path.suffix.lower() == ".csv":
            frame, ragged = _read_csv(path)
            return frame, 2, ragged
        frame = pl.read_parquet(path)
    # a damaged footer polars panics on (a Rust panic arrives as PanicException, a BaseException) is unreadable too
    except (OSError, UnicodeDecodeError, pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
        raise InputError(f"cannot read the table: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                         file=str(path)) from exc
    # Parquet may carry real types and list columns; the contract's columns are brought to the CSV text form
    # (lists joined by ';') unless validated in their own type; every other column is kept as it is.
    texts = as_read(frame.schema, path)
    try:
        frame = frame.with_columns(*texts) if texts else frame
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"cannot read the table's columns: {str(exc).splitlines()[0]}", file=str(path)) from exc
    # one chunk per column, as for a CSV (see _read_csv): a file of several row groups is read in several chunks
    return frame.rechunk(), 1, []


_FEW_VALUES = 4_096
"""Distinct values of a text column up to which `_per_value` cleans each value once instead of each row."""


def _per_value(frame: pl.DataFrame, clean: pl.Expr) -> pl.Expr:
    """``clean``, an expression of one text column of ``frame`` (spaces, case, a default for an empty value), worked
    out once per distinct value and mapped back, where the column has few (payers, places of service, disciplines,
    procedure codes: a handful over a million lines), or the column as it is where cleaning leaves every value
    unchanged (a tidy file). Stripping and case-folding a million values cost ~0.06-0.09 s a column, its distinct
    values ~0.01 s. A small table, or a column of many values or with nulls, is cleaned row by row."""
    (name,) = set(clean.meta.root_names())
    output = clean.meta.output_name()
    if frame.height <= SMALL_RUN:
        return clean
    distinct = frame.get_column(name).unique()
    if distinct.len() > _FEW_VALUES or distinct.null_count():
        return clean
    cleaned = distinct.to_frame().select(clean).to_series()
    if cleaned.equals(distinct, check_dtypes=True):
        return pl.col(name).alias(output)
    return pl.col(name).replace_strict(distinct, cleaned, return_dtype=cleaned.dtype).alias(output)


def _readings(frame: pl.DataFrame) -> list[pl.Expr]:
    """Each checked column read once, for the row checks and the rule tables alike: ``__blank_X`` (the row gives
    no value) and ``__X`` (the value in its type, null where its text does not parse), from text or, for a column
    validated in its own type (`_typed`), from the column itself. The code's blank is not among them: it is
    ``__code`` empty (`_problems`), which the same expression here would clean a second time."""
    schema = frame.schema
    code = _per_value(frame, pl.col("code").str.strip_chars().str.to_uppercase())
    out = [pl.col("encounter_id").str.strip_chars().alias("__id"), code.alias("__code")]
    parse: dict[str, pl.DataType] = {"date": pl.Date(), "units": pl.Float64(), "minutes": pl.Int64(),
                                     "charge": pl.Float64()}
    if "patient_birth_date" in schema:
        parse["patient_birth_date"] = pl.Date()
    for name, dtype in parse.items():
        column = pl.col(name)
        if _typed(name, schema[name]):
            out += [column.is_null().alias(f"__blank_{name}"), column.cast(dtype, strict=False).alias(f"__{name}")]
            continue
        text = column.str.strip_chars()
        value = (text.str.to_date("%Y-%m-%d", strict=False) if isinstance(dtype, pl.Date)
                 else text.cast(dtype, strict=False))
        out += [(text == "").alias(f"__blank_{name}"), value.alias(f"__{name}")]
    pointers = pl.col("dx_pointers")
    if _typed("dx_pointers", schema["dx_pointers"]):
        # as its text: null elements are left out (the text joins what is there), each pointer 0 to nine digits;
        # drop_nulls costs ~0.25 s per 1M lists, so only when some list has a null element (an exploded null or
        # empty list is one null as well)
        unlisted = pointers.list.len().fill_null(0) == 0
        elements = pointers.explode()
        holes, in_range = True, False
        if frame.height > SMALL_RUN:
            # and when every pointer of the column is within the bounds, every row is (a min and max per list cost
            # ~0.05 s per 1M lists, of the column ~0.005 s)
            holes, low, high = frame.select((elements.null_count() - unlisted.sum()).alias("holes"),
                                            elements.min().alias("low"), elements.max().alias("high")).row(0)
            in_range = low is None or (low >= 0 and high <= _POINTER_MAX)
        given = (pointers.list.drop_nulls() if holes else pointers).fill_null([])
        ok = pl.lit(True) if in_range else \
            ((given.list.min() >= 0) & (given.list.max() <= _POINTER_MAX)).fill_null(True)
        out += [(given.list.len() == 0).alias("__blank_dx_pointers"), ok.alias("__dx_ok"),
                given.cast(pl.List(pl.Int64), strict=False).alias("__dx_pointers")]
    else:
        text = pointers.str.strip_chars()
        # ASCII digits only ([0-9], not \d, which also matches other scripts' digits), few enough to be a pointer
        out += [(text == "").alias("__blank_dx_pointers"),
                text.str.contains(r"^\s*[0-9]{1,9}\s*(;\s*[0-9]{1,9}\s*)*$").alias("__dx_ok"),
                _split("dx_pointers").list.eval(pl.element().cast(pl.Int64, strict=False)).alias("__dx_pointers")]
    return out


def _problems(frame: pl.DataFrame, source: Path) -> pl.DataFrame:
    """One row per (row, column) problem: what was expected and what was found (null for a patient field, whose
    value is never repeated). ``frame`` carries `_readings`; the checks are judged on all rows at once, and the
    problems spelled out on the rows that have one."""
    blank = {name: pl.col(f"__blank_{name}") for name in ("date", "units", "minutes", "charge", "dx_pointers",
                                                          "patient_birth_date")}
    blank["code"] = pl.col("__code") == ""
    value = {name: pl.col(f"__{name}") for name in ("date", "units", "minutes", "charge", "patient_birth_date")}
    raw_id, stripped = pl.col("encounter_id"), pl.col("__id")
    # of each id as stripped, its first spelling and row, taken over the whole file before any filter (needed only
    # where some id has spaces around it: otherwise every spelling of an id is the id). A small table takes the
    # general path of this shortcut and the others below: asking first costs more than it saves there.
    if frame.height <= SMALL_RUN or frame.select((raw_id != stripped).any()).item():
        frame = frame.with_columns(raw_id.first().over(stripped).alias("__first_spelling"),
                                   pl.col(_ROW).first().over(stripped).alias("__first_row"))
    else:
        frame = frame.with_columns(raw_id.alias("__first_spelling"), pl.col(_ROW).alias("__first_row"))
    units, charge = value["units"], value["charge"]
    checks: list[tuple[str, pl.Expr, str | pl.Expr]] = [
        ("encounter_id", stripped == "", "an encounter id is required"),
        # " E1" and "E1" would become one claim once stripped: which claim the row belongs to cannot be told
        ("encounter_id", (stripped != "") & (raw_id != pl.col("__first_spelling")),
         pl.format("encounter id differs from the one on row {} only by spaces around it; the rows were not merged: "
                   "spell one claim's id one way", pl.col("__first_row"))),
        ("code", blank["code"], "a procedure code is required"),
        ("date", blank["date"], "a date of service is required"),
        ("date", ~blank["date"] & value["date"].is_null(), "expected a date as YYYY-MM-DD"),
        ("units", blank["units"], "a unit count is required"),
        ("units", ~blank["units"] & ~units.is_finite().fill_null(False), "expected a number of units"),
        ("units", units.is_finite() & (units < 0), "units must not be negative"),
        ("units", units.is_finite() & (units > MAX_LINE_UNITS),
         f"units above {MAX_LINE_UNITS:,} on one line are not a plausible count; check the row"),
        ("minutes", ~blank["minutes"] & value["minutes"].is_null(), "expected whole minutes"),
        ("minutes", value["minutes"] < 0, "minutes must not be negative"),
        ("minutes", value["minutes"] > MAX_LINE_MINUTES,
         f"a line's minutes cannot exceed the {MAX_LINE_MINUTES:,} minutes of a day"),
        ("charge", ~blank["charge"] & ~charge.is_finite().fill_null(False), "expected a money amount"),
        # the model's rule for a line's charge: a negative amount is not a charge (a refund is not billed on a claim)
        ("charge", charge.is_finite() & (charge < 0), "a charge cannot be negative"),
        ("charge", charge.is_finite() & (charge >= MAX_LINE_CHARGE),
         f"a line's charge of {MAX_LINE_CHARGE:,} dollars or more is not a plausible amount; check the row"),
        ("dx_pointers", ~blank["dx_pointers"] & ~pl.col("__dx_ok"),
         "expected diagnosis pointers as numbers separated by ';'"),
    ]
    if "patient_birth_date" in frame.columns:
        checks.append(("patient_birth_date", ~blank["patient_birth_date"] & value["patient_birth_date"].is_null(),
                       "expected a date as YYYY-MM-DD"))
    frame = frame.filter(pl.any_horizontal(condition.fill_null(False) for _, condition, _ in checks))
    # the value as the file gives it (a column validated in its own type, in its text form)
    shown = {name: _as_text(name, frame.schema[name], source) for name in frame.columns if name in CONTRACT_COLUMNS}
    found = [
        frame.filter(condition.fill_null(False)).select(
            pl.col(_ROW), pl.lit(column).alias("column"),
            (pl.lit(expected) if isinstance(expected, str) else expected.cast(pl.String)).alias("expected"),
            # a patient field (errors.is_phi_field): the error names it and what was expected, never the value
            (pl.lit(None, dtype=pl.String) if is_phi_field(column) else shown[column]).alias("value"),
        )
        for column, condition, expected in checks
    ]
    return pl.concat(found).sort(_ROW, "column")


def read_claim_table(path: str | Path, *, default_payer: str = "medicare") -> ClaimTable:
    """Read a CSV or Parquet claim-line table into rule tables, rejecting (and reporting) bad rows."""
    source = Path(path)
    try:
        source.stat()
    except FileNotFoundError as exc:
        raise InputError("file not found", file=str(source)) from exc
    except OSError as exc:  # a name too long, a folder without permission
        raise InputError(f"cannot read the table: {exc.strerror or type(exc).__name__}", file=str(source)) from exc
    raw, offset, ragged = _read_raw(source)
    return claim_table_from_raw(raw, source, offset=offset, ragged=ragged, default_payer=default_payer)


def claim_table_from_raw(raw: pl.DataFrame, source: Path, *, offset: int, ragged: list[InputError] | None = None,
                         default_payer: str = "medicare") -> ClaimTable:
    """Validate and type a table already read as text columns (`read_claim_table`'s second half). A batch audit
    hands it a file's rows a slice of whole encounters at a time, each row keeping its file row number in the
    ``__row`` column, so a slice is judged exactly as the whole file would be."""
    ragged = ragged or []
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise InputError(f"missing required column(s) {', '.join(missing)}; a claim-line table needs "
                         f"{', '.join(REQUIRED_COLUMNS)}", file=str(source), row=1 if offset == 2 else None,
                         field=", ".join(missing))
    frame = raw.with_columns(
        *(pl.lit("").alias(c) for c in OPTIONAL_COLUMNS if c not in raw.columns),
    )
    if _ROW not in frame.columns:
        frame = frame.with_row_index(_ROW, offset=offset)
    frame = frame.with_columns(_readings(frame))
    problems = _problems(frame, source)
    # the encounter of each rejected row, for its message (only those rows: a million clean rows need no dict)
    encounter_of = dict(frame.filter(pl.col(_ROW).is_in(problems.get_column(_ROW).implode()))
                        .select(_ROW, "encounter_id").iter_rows()) if problems.height else {}
    errors = [*ragged, *(
        InputError(f"{expected}, got {value!r}" if value else expected, file=str(source), row=row, field=column,
                   encounter=encounter_of.get(row) or None)
        for row, column, expected, value in problems.iter_rows()
    )]
    rejected = problems.get_column(_ROW).unique()
    runs = frame.height > SMALL_RUN and _contiguous(frame)
    good = frame.with_columns(_line_numbers(runs).cast(pl.Int32).alias("line"))
    if rejected.len():
        good = good.filter(~pl.col(_ROW).is_in(rejected.implode()))
    # a row without a patient id takes its encounter's (a window over the encounters: only when some row needs it)
    anonymous = good.height <= SMALL_RUN or bool(good.select((pl.col("patient_id").str.strip_chars() == "").any())
                                                  .item())
    lines = good.select(
        pl.col("__id").alias("encounter_id"),
        pl.col("line"),
        pl.col("__date").alias("date"),
        _per_value(frame, pl.when(pl.col("payer").str.strip_chars() == "").then(pl.lit(default_payer))
                   .otherwise(pl.col("payer").str.strip_chars().str.to_lowercase()).alias("payer")),
        _per_value(frame, pl.when(pl.col("place_of_service").str.strip_chars() == "").then(pl.lit("11"))
                   .otherwise(pl.col("place_of_service").str.strip_chars().str.zfill(2)).alias("place_of_service")),
        # an empty id or NPI is not given (null), not a value of "" that would group unrelated rows or read as an
        # NPI of no digits; an empty discipline is unstated, as in an 837P without a rendering taxonomy
        _patient_key(anonymous),
        pl.col("provider_npi").str.strip_chars().replace("", None),
        _per_value(frame, pl.col("provider_discipline").str.strip_chars().replace("", Discipline.OTHER.value)),
        pl.col("__code").alias("code"),
        _codes(frame, "modifiers"),
        pl.col("__units").alias("units"),
        pl.col("__minutes").alias("minutes"),
        pl.col("__dx_pointers").alias("dx_pointers"),
        pl.col("__charge").alias("charge"),
        pl.col("ndc").str.strip_chars().replace("", None),
        _codes(frame, "diagnoses"),
        *(pl.col(f"__{c}").alias(c) if c == "patient_birth_date" else pl.col(c).str.strip_chars().replace("", None)
          for c in CLAIM_COLUMNS if c in raw.columns),
        pl.col(_ROW),
    )
    claim_columns = [c for c in CLAIM_COLUMNS if c in raw.columns]
    notes = _patient_notes(source, raw, good) if anonymous else []
    first = _first_rows(lines, claim_columns, runs)
    encounters = (
        first
        .with_columns(*(pl.lit(None, dtype=dtype).alias(name) for name, dtype in ENCOUNTER_SCHEMA.items()
                        if name not in {"encounter_id", *_LINE_LEVEL, *claim_columns}))
        .select(list(ENCOUNTER_SCHEMA))
    )
    return ClaimTable(
        source=str(source),
        lines=lines.select(*LINE_SCHEMA, *[c for c in lines.columns if c not in LINE_SCHEMA and c != "diagnoses"
                                           and c not in claim_columns and c != _ROW]),
        encounters=encounters,
        errors=errors,
        rows_read=frame.height + len(ragged),
        rows_rejected=rejected.len() + len(ragged),
        carried=frozenset(("encounter_id", *_LINE_LEVEL, *claim_columns)),
        minutes_carried="minutes" in raw.columns,
        notes=notes,
        line_rows=lines.get_column(_ROW),
        encounter_rows=first.get_column(_ROW),
    )


def _contiguous(frame: pl.DataFrame) -> bool:
    """Whether each encounter's rows are one run (a file written claim by claim, as most are): no id starts two
    runs."""
    starts = _run_starts()
    # the ids that start a run, all distinct (hashing the run starts, not every row: 0.015 s against 0.09 s per 1M)
    return bool(frame.select(pl.col("encounter_id").filter(starts).n_unique() == starts.sum()).item())


def _line_numbers(runs: bool) -> pl.Expr:
    """Each row's line number in its claim (rows with the same ``encounter_id``, in file order). Where each claim's
    rows are one run (``runs``), each run is numbered from its first row (0.1 s per 1M rows with the check against
    0.23 s for the window over the ids, which any other order needs)."""
    if runs:
        index = pl.int_range(pl.len())
        return index - pl.when(_run_starts()).then(index).forward_fill() + 1
    return pl.int_range(1, pl.len() + 1).over("encounter_id")


def _run_starts() -> pl.Expr:
    """Whether a row starts a run of one ``encounter_id`` (its first row, or an id other than the row before's)."""
    claim = pl.col("encounter_id")
    return (claim != claim.shift(1)).fill_null(True)


def _first_rows(lines: pl.DataFrame, claim_columns: list[str], runs: bool) -> pl.DataFrame:
    """The claim-level columns of each encounter and the file row it starts on: its first line's, encounters in the
    order of their first lines.
    Where each claim's rows were one run in the file (``runs``), its lines are one run too (the rows left out take
    none apart: a row whose id is spelled otherwise than the claim's first row is rejected), so they are the first
    line of each run, found without grouping."""
    columns = pl.col(*_LINE_LEVEL, *claim_columns, _ROW)
    if runs:
        return lines.filter(_run_starts()).select("encounter_id", columns)
    return lines.group_by("encounter_id", maintain_order=True).agg(columns.first())


def _patient_key(anonymous: bool = True) -> pl.Expr:
    """The patient a line belongs to: its patient id, or that of another row of its encounter (one claim is one
    patient), or, when the encounter names none, the encounter itself (see ``NO_PATIENT_PREFIX``). ``anonymous``:
    whether some row has no patient id (else each row's own id is its key)."""
    given = pl.col("patient_id").str.strip_chars().replace("", None)
    if not anonymous:
        return given.alias("patient_id")
    own = given.fill_null(given.forward_fill().backward_fill().over(pl.col("encounter_id").str.strip_chars()))
    return own.fill_null(pl.format(NO_PATIENT_PREFIX + "{})", pl.col("encounter_id").str.strip_chars())) \
        .alias("patient_id")


def _patient_notes(source: Path, raw: pl.DataFrame, good: pl.DataFrame) -> list[InputError]:
    """Say once that patients are unknown, since the same-day and duplicate rules then look within each claim only."""
    consequence = ("each encounter is checked as its own patient, so same-day limits, duplicates and frequency "
                   "across claims of one patient are not checked")
    if "patient_id" not in raw.columns:
        return [InputError(f"no patient_id column: {consequence}", file=str(source), field="patient_id")]
    unnamed = (good.group_by(pl.col("encounter_id").str.strip_chars())
               .agg((pl.col("patient_id").str.strip_chars() != "").any().alias("named"))
               .filter(~pl.col("named")).height)
    if not unnamed:
        return []
    return [InputError(f"{unnamed} encounter(s) have no patient id in any row: {consequence}", file=str(source),
                       field="patient_id")]


def _codes(frame: pl.DataFrame, name: str) -> pl.Expr:
    """A list of codes (modifiers, diagnoses) from its text separated by ';' or from a list column: stripped, upper
    case, empty ones left out. A list column is read as its text would be (its elements joined by ';', nulls left
    out, then split) without the text, unless an element holds a ';' itself."""
    column = pl.col(name)
    listed = frame.schema[name]
    # a large list column is judged on its distinct codes (a few hundred over a million lines): whether one holds a
    # ';', and whether all are tidy already (no null, none empty, stripped, upper case), so that the column is its
    # own codes (list.eval over a million lists cost ~0.15 s per 1M lines, the distinct codes ~0.04 s)
    distinct = (frame.get_column(name).explode(empty_as_null=False, keep_nulls=False).unique()
                if _typed(name, listed) and frame.height > SMALL_RUN else None)
    semicolon, tidy = _judge_codes(distinct) if distinct is not None else (True, False)
    if tidy:
        return column.fill_null([]).alias(name)
    if not semicolon:
        codes = column.fill_null([]).list.eval(pl.element().str.strip_chars()).list.filter(pl.element() != "")
    else:
        codes = _split(column.list.join(";").fill_null("") if _typed(name, listed) else column)
    return codes.list.eval(pl.element().str.to_uppercase()).alias(name)


def _judge_codes(codes: pl.Series) -> tuple[bool, bool]:
    """Whether some code holds a ';' (its text would split it), and whether each code is as `_codes` would leave it
    (not null, not empty, no ';', no spaces around it, upper case): both from one test for ';' per code (an eager
    select would run an expression used twice twice)."""
    semicolon = codes.str.contains(";", literal=True)
    code = pl.col(codes.name)
    tidy = code.is_not_null() & (code != "") & ~pl.col("__semicolon") & (code.str.strip_chars().str.to_uppercase()
                                                                         == code)
    every = codes.to_frame().with_columns(semicolon.alias("__semicolon")).select(tidy.all()).item()
    return bool(semicolon.any()), bool(every)


def _split(column: str | pl.Expr) -> pl.Expr:
    text = pl.col(column) if isinstance(column, str) else column
    return text.str.split(";").list.eval(pl.element().str.strip_chars()).list.filter(pl.element() != "")
