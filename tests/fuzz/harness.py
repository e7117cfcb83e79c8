"""The fuzz oracle: run one damaged input through a reader and say whether it failed the contract, and how.

The contract (DESIGN.md, issue 11): whatever the input, a reader either returns a result whose errors are
``InputError``s, or raises an ``InputError``; every one names the file and a place in it (line, row or segment)
and repeats no patient value of the input; and an X12 reader reads or reports every CLM/CLP of the file.
Anything else (another exception, a hang, a MemoryError under the test's address-space bound) is a crash.
Crashes are grouped by class (reader, exception type, the deepest cleanclaim frame) so that one bug found a
hundred times is reported once, with its smallest input.
"""

from __future__ import annotations

import json
import random
import re
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from cleanclaim.errors import InputError

from . import mutators as m

ROOT = Path(__file__).resolve().parents[2]
X12_FIXTURES = ROOT / "tests" / "formats" / "x12" / "fixtures"
HANG_SECONDS = 10.0
"""A guard, not a performance assertion: an input still running after this long is reported as a hang instead
of stalling the suite. Every seed input is read in well under a second."""


class HangError(Exception):
    """Raised by the guard's alarm inside an input that did not finish."""


@contextmanager
def hang_guard(seconds: float = HANG_SECONDS) -> Iterator[None]:
    def alarm(signum: int, frame: FrameType | None) -> None:
        raise HangError(f"still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ------------------------------------------------------------------------------------------------------ targets


@dataclass(frozen=True)
class Target:
    """One reader: how its inputs are made (seeds, mutators, file suffix) and how it is called on a file."""

    name: str
    suffix: str
    seeds: tuple[str, ...]
    mutators: tuple[m.Mutator, ...]
    run: Callable[[Path], list[InputError]]
    build: Callable[[random.Random, str], bytes] | None = None
    """Makes the file from a seed when it is not text (Parquet); the text mutators are not used then."""


class ClaimsLostError(Exception):
    """Raised by a reader target when a claim of the file was neither read nor reported (see ``_accounted``)."""


def _accounted(path: Path, claim_tag: str, line_tag: str, read_ids: list[str], errors: list[InputError]) -> None:
    """Every claim the independent split finds is read or has an error in its transaction (or one about the
    interchange): the issue's "never lose one", checked on every mutant. Claims are matched by id as a multiset
    (a mutant may copy a claim into another transaction), preferring to count as read the copies that no error
    covers, and nothing may be read that the file does not have."""
    from collections import Counter

    from tests.formats.x12.test_public_fixtures import split

    expected = split(path, claim_tag, line_tag)
    numbers = [getattr(e, "segment_number", None) for e in errors]
    # An error about the interchange itself (no segment id, ISA/GS/GE/IEA, or outside every ST..SE) says that
    # everything it encloses or follows was not read; it covers every claim.
    envelope = any(
        not isinstance(n, int) or getattr(e, "segment_id", None) in (None, "ISA", "GS", "GE", "IEA")
        or not any(a <= n <= b for a, b in expected.transactions)
        for e, n in zip(errors, numbers, strict=True))

    def covered(first: int, last: int) -> bool:
        return envelope or any(isinstance(n, int) and first <= n <= last for n in numbers)

    # Ids compared without surrounding blanks: the reader trims elements, and that is not a lost claim.
    read = Counter(claim_id.strip() for claim_id in read_ids)
    in_file = Counter(claim.id.strip() for claim in expected.claims)
    invented = read - in_file
    if invented:
        raise ClaimsLostError(f"claims read that the file does not have: {sorted(invented)}")
    for claim_id in in_file:
        copies = sorted((c for c in expected.claims if c.id.strip() == claim_id),
                        key=lambda c: covered(*c.transaction))
        for claim in copies[read[claim_id]:]:
            if not covered(*claim.transaction):
                raise ClaimsLostError(f"{claim_tag} {claim.id!r} at segment {claim.segment} neither read nor "
                                      "reported")


def _read_837p(path: Path) -> list[InputError]:
    from cleanclaim.formats.x12_837p import read_837p
    result = read_837p(path)
    _accounted(path, "CLM", "SV1", [e.claim_id or "" for e in result.encounters], result.errors)
    return list(result.errors)


def _read_835(path: Path) -> list[InputError]:
    from cleanclaim.formats.x12_835 import read_835
    result = read_835(path)
    _accounted(path, "CLP", "SVC", [c.patient_control_number for c in result.claims], result.errors)
    return list(result.errors)


def _denials(path: Path) -> list[InputError]:
    """The 835 as the `denials` command uses it: read, grouped by reason code and written as JSON."""
    from cleanclaim.formats.x12_835 import denials
    worklist = denials(path)
    json.dumps(worklist.to_dict(), indent=2)  # as `denials --json` prints it
    return list(worklist.errors)


def _load_encounters(path: Path) -> list[InputError]:
    from cleanclaim.formats.encounters import load_encounters
    return list(load_encounters(path).errors)


def _read_claim_table(path: Path) -> list[InputError]:
    from cleanclaim.formats.claim_table import read_claim_table
    return list(read_claim_table(path).errors)


def _check(path: Path) -> list[InputError]:
    import datetime as dt

    from cleanclaim import check
    result = check(path, as_of=dt.date(2026, 6, 1))
    for failure in result.failures:  # a crash isolated to some records is still a crash: judged as one
        if failure.exception is not None:
            raise failure.exception
    return list(result.errors)


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _seeds_837p() -> tuple[str, ...]:
    public = X12_FIXTURES / "public" / "837p"
    return (_text(X12_FIXTURES / "harbor_pt_claims.837"), _text(X12_FIXTURES / "lakeside_coaching_pipe.837"),
            _text(public / "lfh__demo.cob.example3.B.837"), _text(public / "lfh__demo.drug.example10.2.837"))


def _seeds_835() -> tuple[str, ...]:
    public = X12_FIXTURES / "public" / "835"
    return (_text(X12_FIXTURES / "remit_harbor.835"), _text(public / "edi835p__emedny_sample.835"),
            _text(public / "pyx12__835_mult_loops.835"), _text(public / "lfh__managed-care.835"))


def _seeds_yaml() -> tuple[str, ...]:
    return tuple(_text(p) for p in sorted((ROOT / "examples").glob("*.yaml")))


def _seeds_json() -> tuple[str, ...]:
    return tuple(json.dumps(yaml.safe_load(text), default=str) for text in _seeds_yaml()[:3])


CSV_SEED = (
    "encounter_id,date,payer,place_of_service,patient_id,provider_npi,provider_discipline,diagnoses,code,"
    "modifiers,units,minutes,dx_pointers,charge\n"
    "E1,2026-03-02,medicare,11,P1,1234567893,PT,M62.81;Z91.81,97110,GP,2,24,1;2,90.00\n"
    "E1,2026-03-02,medicare,11,P1,1234567893,PT,M62.81;Z91.81,97535,GP,2,23,1,90.00\n"
    "E2,2026-03-03,commercial,02,P2,1234567893,coach,Z71.3,0591T,95,1,45,1,150\n"
)


def targets() -> dict[str, Target]:
    x12 = m.X12 + m.GENERIC
    yaml_mutators = m.STRUCTURED_YAML + m.GENERIC
    return {
        "837p": Target("837p", ".837", _seeds_837p(), x12, _read_837p),
        "835": Target("835", ".835", _seeds_835(), x12, _read_835),
        "denials": Target("denials", ".835", _seeds_835(), x12, _denials),
        "yaml": Target("yaml", ".yaml", _seeds_yaml(), yaml_mutators, _load_encounters),
        "json": Target("json", ".json", _seeds_json(), m.STRUCTURED_JSON + m.GENERIC, _load_encounters),
        "csv": Target("csv", ".csv", (CSV_SEED,), m.CSV + m.GENERIC, _read_claim_table),
        "parquet": Target("parquet", ".parquet", (CSV_SEED,), (), _read_claim_table, m.parquet_table),
        "check-yaml": Target("check-yaml", ".yaml", _seeds_yaml()[:2], yaml_mutators, _check),
        "check-837p": Target("check-837p", ".837", _seeds_837p()[:2], x12, _check),
        "check-csv": Target("check-csv", ".csv", (CSV_SEED,), m.CSV + m.GENERIC, _check),
        "audit-csv": Target("audit-csv", ".csv", (CSV_SEED,), m.CSV + m.GENERIC, _audit_target(False, True)),
        "audit-csv-scratch": Target("audit-csv-scratch", ".csv", (CSV_SEED,), m.CSV + m.GENERIC,
                                    _audit_target(True, True)),
        "audit-parquet": Target("audit-parquet", ".parquet", (CSV_SEED,), (), _audit_target(False, True),
                                m.parquet_damaged),
        "audit-parquet-scratch": Target("audit-parquet-scratch", ".parquet", (CSV_SEED,), (),
                                        _audit_target(True, True), m.parquet_damaged),
        "audit-837p": Target("audit-837p", ".837", _seeds_837p()[:2], x12, _audit_target(False, False)),
        "audit-pair": Target("audit-pair", ".csv", (CSV_SEED,), m.CSV + m.GENERIC, _audit_pair(False)),
        "audit-pair-scratch": Target("audit-pair-scratch", ".parquet", (CSV_SEED,), (), _audit_pair(True),
                                     m.parquet_damaged),
    }


def seed_bytes(target: Target, seed: str) -> bytes:
    """A seed as the reader's file, unmutated."""
    return m.parquet_plain(seed) if target.build is not None else seed.encode("utf-8")


def case(target: Target, index: int) -> bytes:
    """Input number ``index`` of a target: the same bytes on every run and machine (string seeds are stable)."""
    rng = random.Random(f"cleanclaim-fuzz/{target.name}/{index}")
    if target.build is not None:
        return target.build(rng, rng.choice(target.seeds))
    text = m.mutate(rng, rng.choice(target.seeds), target.mutators)
    data = text.encode("utf-8")
    if rng.random() < 0.03:  # a few files that are not UTF-8 at all (a Latin-1 export, a stray byte)
        at = rng.randrange(len(data) + 1)
        data = data[:at] + rng.choice([b"\xff", b"\xe9", b"\xc3", b"\x00\x00", b"\xef\xbb"]) + data[at:]
    return data


# ------------------------------------------------------------------------------------------------------ oracle


@dataclass(frozen=True)
class Failure:
    """One way an input broke the contract; ``key`` is the crash class used to group and to reduce."""

    key: tuple[str, ...]
    kind: str
    detail: str
    top_frame: str = ""


def _frames(exc: BaseException) -> tuple[str, str]:
    """The deepest frame, and the deepest frame in cleanclaim's own code (where the fix goes)."""
    stack = traceback.extract_tb(exc.__traceback__)
    top = stack[-1] if stack else None
    ours = next((f for f in reversed(stack) if "/cleanclaim/" in f.filename and "/tests/" not in f.filename), None)

    def show(frame: traceback.FrameSummary | None) -> str:
        if frame is None:
            return ""
        short = frame.filename.split("/site-packages/")[-1].split("/src/")[-1]
        return f"{short}:{frame.lineno} in {frame.name}"

    return show(top), show(ours)


def _where(frame: str) -> str:
    """A frame without its line number, so a class survives unrelated edits to the file."""
    return re.sub(r":\d+ in ", " in ", frame)


def _shape(message: str) -> str:
    """A message with its variable parts (numbers, quoted values) blanked, to group errors of one kind."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", message)
    return re.sub(r"\d+", "N", text)[:90]


WHOLE_FILE = ("the file is empty", "cannot read the table:")
"""Errors about the file as a whole, which have no line to name (an empty file; a Parquet file whose footer or
metadata cannot be read, so it has no rows at all). Everything else does: a decoder knows the byte, a parser the
line, a table the row."""


def _placeless(error: InputError) -> bool:
    if not error.file:
        return True
    if error.file.endswith((".parquet", ".pq")) and error.field:
        # a Parquet file has no lines, and its rows are stored by column: a column of the wrong type or a missing
        # column is placed by naming the column (a CSV's header has its line 1, so this does not apply there)
        return False
    return error.line is None and error.row is None and not error.segment and not any(
        phrase in error.message for phrase in WHOLE_FILE)


_PHI_KEYS = re.compile(r"\b(birth_date|first_name|last_name|member_id)\s*:\s*\"?([^,}\"\n]+)")
_NOT_PHI = {"id", "relationship", "sex"}  # identifiers the user gave, and codes too short to tell apart


def _patient_leaves(node: object, inside: bool = False, depth: int = 0) -> Iterator[str]:
    """Scalar values under a ``patient`` or ``subscriber`` mapping (an address, a name). Lists are followed only
    at the top (the encounters), so an alias expansion elsewhere in the file is not walked."""
    if depth > 8:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            if inside and key in _NOT_PHI:
                continue
            yield from _patient_leaves(value, inside or key in ("patient", "subscriber"), depth + 1)
    elif isinstance(node, list) and depth <= 1:
        for value in node[:1000]:
            yield from _patient_leaves(value, inside, depth + 1)
    elif inside and node is not None and not isinstance(node, dict | list):
        yield str(node)


def _phi_values(data: bytes) -> set[str]:
    """The patient's values in the input (names, birth date, member id, address), each at least four characters
    and present once, so that finding one in a message means it was echoed, not coincidence. Billing and
    rendering providers' values are not patient data and are not collected."""
    text = data.decode("utf-8", errors="replace")
    values: set[str] = set()
    try:
        values.update(_patient_leaves(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))))
    except Exception:  # unparseable (then no field error can quote it), or a ValueError from a date: by key
        values.update(match.group(2).strip() for match in _PHI_KEYS.finditer(text))
    found = m._delimiters(text)
    if found is not None:
        element, _, terminator = found
        for segment in text.split(terminator):
            parts = segment.strip().split(element)
            if parts[0] == "NM1" and len(parts) > 3 and parts[1] in ("IL", "QC"):
                values.update(parts[i] for i in (3, 4, 9) if i < len(parts))
            elif parts[0] == "DMG" and len(parts) > 2:
                values.add(parts[2])
    return {v for v in values if len(v) >= 4 and text.count(v) == 1}


def judge(target: Target, path: Path, data: bytes) -> list[Failure]:
    """Run the reader on ``data`` written to ``path``; the ways it broke the contract (none when it kept it)."""
    path.write_bytes(data)
    errors: list[InputError] = []
    try:
        with hang_guard():
            errors = target.run(path)
    except InputError as exc:
        errors = [exc]
    except HangError as exc:
        top, ours = _frames(exc)
        return [Failure((target.name, "hang", _where(ours)), "hang", str(exc), top)]
    except RecursionError as exc:
        top, ours = _frames(exc)
        return [Failure((target.name, "RecursionError", _where(ours)), "exception", "RecursionError", top)]
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the point of the oracle: anything but InputError is a crash; a Rust panic
        # in polars arrives as pyo3's PanicException, a BaseException, and a stray sys.exit as SystemExit
        top, ours = _frames(exc)
        where = exc.invariant if isinstance(exc, AuditContractError) else _where(ours)
        return [Failure((target.name, type(exc).__name__, where), "exception",
                        f"{type(exc).__name__}: {str(exc)[:300]}", f"{top} (cleanclaim: {ours})")]
    found: list[Failure] = []
    phi = _phi_values(data)
    for error in errors:
        shown = str(error)
        if any(value in shown for value in phi):
            found.append(Failure((target.name, "patient data in a message", _shape(error.message)[:60]), "phi",
                                 shown[:300]))
        if not isinstance(error, InputError):
            found.append(Failure((target.name, "not an InputError", type(error).__name__), "bad error",
                                 repr(error)[:300]))
        elif _placeless(error):
            found.append(Failure((target.name, "InputError without a place", _shape(error.message)),
                                 "no place", str(error)[:300]))
    return found


# ------------------------------------------------------------------------------------------------------ reducer


def reduce(target: Target, path: Path, data: bytes, key: tuple[str, ...], *, budget: int = 300,
           seconds: float = 30.0) -> bytes:
    """A smaller input with the same crash class: drop chunks (halves, quarters, ... single bytes) while it stays."""
    if key[1] in ("hang", "MemoryError"):  # each try would take the whole guard time or memory
        return data
    calls = 0
    deadline = time.monotonic() + seconds

    def same(candidate: bytes) -> bool:
        nonlocal calls
        calls += 1
        if time.monotonic() > deadline:  # a slow class keeps the input it has reached so far
            calls = budget
            return False
        return any(f.key == key for f in judge(target, path, candidate))

    chunk = max(1, len(data) // 2)
    while chunk >= 1 and calls < budget:
        start, changed = 0, False
        while start < len(data) and calls < budget:
            candidate = data[:start] + data[start + chunk:]
            if candidate and same(candidate):
                data, changed = candidate, True
            else:
                start += chunk
        if not changed:
            chunk //= 2
    return data


@dataclass
class Report:
    """Distinct crash classes of one run, each with the index and the smallest input that showed it."""

    inputs: int = 0
    classes: dict[tuple[str, ...], tuple[Failure, int, bytes]] = field(default_factory=dict)
    counts: dict[tuple[str, ...], int] = field(default_factory=dict)

    def add(self, failure: Failure, index: int, data: bytes) -> None:
        self.counts[failure.key] = self.counts.get(failure.key, 0) + 1
        known = self.classes.get(failure.key)
        if known is None or len(data) < len(known[2]):
            self.classes[failure.key] = (failure, index, data)

    def summary(self) -> str:
        lines = [f"{len(self.classes)} crash class(es) in {self.inputs} inputs:"]
        for key, (failure, index, data) in sorted(self.classes.items()):
            lines.append(f"- {' | '.join(key)} x{self.counts[key]} (input #{index}, {len(data)} bytes): "
                         f"{failure.detail[:200]} [{failure.top_frame}]")
        return "\n".join(lines)


CORPUS = Path(__file__).parent / "corpus"


def corpus(target: Target) -> list[Path]:
    """Inputs kept because they once broke a reader (tests/fuzz/corpus/<target>/): each is run on every test run,
    whatever the random budget reaches, so a fixed class stays fixed."""
    folder = CORPUS / target.name
    return sorted(folder.iterdir()) if folder.is_dir() else []


def run_corpus(target: Target, workdir: Path) -> Report:
    report = Report()
    path = workdir / f"input{target.suffix}"
    for number, file in enumerate(corpus(target)):
        data = file.read_bytes()
        report.inputs += 1
        for failure in judge(target, path, data):
            report.add(Failure(failure.key, failure.kind, f"{file.name}: {failure.detail}", failure.top_frame),
                       number, data)
    return report


def run(target: Target, indices: range, workdir: Path) -> Report:
    report = Report()
    path = workdir / f"input{target.suffix}"
    for index in indices:
        data = case(target, index)
        report.inputs += 1
        for failure in judge(target, path, data):
            report.add(failure, index, data)
    return report


# ------------------------------------------------------------------------------------------------------ audit

AUDIT_OUTPUTS = ("findings.parquet", "summary.json", "rejected.parquet", "providers.parquet", "report.html")

GOOD_CSV = (
    "encounter_id,date,payer,place_of_service,patient_id,provider_npi,provider_discipline,diagnoses,code,"
    "modifiers,units,minutes,dx_pointers,charge\n"
    "G1,2026-03-04,medicare,11,Q7,1245319599,PT,M62.81,97110,GP,3,38,1,120.00\n"
    "G1,2026-03-04,medicare,11,Q7,1245319599,PT,M62.81,97110,GP,3,38,1,120.00\n"
    "G2,2026-03-05,medicare,11,Q8,1245319599,PT,M62.81,97140,GP;59,1,8,1,45.00\n"
)
"""The good file of the multi-file targets: its own patients and claims (no id or patient a mutant of the seeds
can reach), with findings of its own (a duplicate line, units past the minutes), so that "the good file's findings
are those it gives alone" compares something."""


class AuditContractError(Exception):
    """An audit broke issue 15's bad-input contract without raising: ``invariant`` names which (the crash class)."""

    def __init__(self, invariant: str, detail: str) -> None:
        super().__init__(f"{invariant}: {detail}")
        self.invariant = invariant


@contextmanager
def _scratch_path(on: bool) -> Iterator[None]:
    """The scratch-file path of a large input (slices and partitions through files), as the audit tests force it."""
    from cleanclaim.audit import run

    held = run.IN_MEMORY_ROWS
    run.IN_MEMORY_ROWS = 0 if on else held
    try:
        yield
    finally:
        run.IN_MEMORY_ROWS = held


def _audited(paths: list[Path], out: Path, *, scratch: bool) -> Any:
    """``audit`` of ``paths`` into ``out`` (emptied first), judged against the invariants every run keeps."""
    import datetime as dt
    import shutil

    import polars as pl

    from cleanclaim.audit.run import audit

    shutil.rmtree(out, ignore_errors=True)
    with _scratch_path(scratch):
        # one line a partition and a slice per line on the scratch path: every cut of the slicing is exercised
        result = audit(paths, out, as_of=dt.date(2026, 6, 1), partition_rows=1 if scratch else 250_000)
    for failure in result.failures:  # a crash isolated to some records is still a crash
        if failure.exception is not None:
            raise failure.exception
    missing = [name for name in AUDIT_OUTPUTS if not (out / name).is_file()]
    if missing:
        raise AuditContractError("output missing", ", ".join(missing))
    left = [p.name for p in out.iterdir() if p.name.startswith(".audit-")]
    if left:
        raise AuditContractError("scratch folder left", ", ".join(left))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    if summary != result.summary:
        raise AuditContractError("summary.json differs from the result", "")
    read, checked, rejected = summary["rows_read"], summary["rows_checked"], summary["rows_rejected"]
    if read != checked + rejected or min(read, checked, rejected) < 0:
        raise AuditContractError("rows read != checked + rejected", f"{read} != {checked} + {rejected}")
    if checked != summary["lines"]:
        raise AuditContractError("rows checked != lines checked", f"{checked} != {summary['lines']}")
    table = pl.read_parquet(out / "rejected.parquet")
    unnamed = table.filter(pl.col("file").is_null() | (pl.col("file") == ""))
    if unnamed.height:
        raise AuditContractError("rejected row without a file", str(unnamed.row(0)))
    findings = pl.read_parquet(out / "findings.parquet")
    named = {str(p) for p in paths}
    strays = findings.filter(~pl.col("source_file").is_in(sorted(named)) | pl.col("source_file").is_null())
    if strays.height:
        raise AuditContractError("finding without its file", str(strays.select("rule", "source_file").row(0)))
    return result


def _table_rows_rejected(path: Path, out: Path, result: Any) -> None:
    """A table's rejected rows are distinct (file, row) pairs of rejected.parquet, one for each row counted. A
    file with no row read was refused as a whole (its header: a CSV's row 1), and has no rows to count."""
    import polars as pl

    if result.summary["rows_read"] == 0:
        if result.summary["rows_rejected"]:
            raise AuditContractError("rows rejected of a file not read", str(result.summary["rows_rejected"]))
        return
    table = pl.read_parquet(out / "rejected.parquet").filter(pl.col("row").is_not_null())
    rows = table.select("file", "row").unique().height
    if rows != result.summary["rows_rejected"]:
        raise AuditContractError("rows rejected != distinct rejected rows",
                                 f"{result.summary['rows_rejected']} != {rows}")


def _audit_target(scratch: bool, table: bool) -> Callable[[Path], list[InputError]]:
    def audit_one(path: Path) -> list[InputError]:
        out = path.parent / "audit-out"
        result = _audited([path], out, scratch=scratch)
        if table:
            _table_rows_rejected(path, out, result)
        return list(result.errors)
    return audit_one


def _good_findings(good: Path, out: Path) -> Any:
    import polars as pl

    found = pl.read_parquet(out / "findings.parquet").filter(pl.col("source_file") == str(good))
    return found.sort([name for name, dtype in found.schema.items() if not dtype.is_nested()], nulls_last=True)


def _audit_pair(scratch: bool) -> Callable[[Path], list[InputError]]:
    """A damaged file and a good one beside it (the damaged first, so its ids and patients come first): every
    finding of the good file is the one it gives alone, row for row, and none of its rows is rejected."""
    def audit_pair(path: Path) -> list[InputError]:
        from polars.testing import assert_frame_equal

        good = path.parent / "good" / "claims.csv"
        alone = path.parent / f"good-alone-{'scratch' if scratch else 'held'}"
        if not alone.is_dir():  # the good file's own audit, once per work folder
            good.parent.mkdir(exist_ok=True)
            good.write_text(GOOD_CSV, encoding="utf-8")
            _audited([good], alone, scratch=scratch)
        out = path.parent / "audit-out"
        result = _audited([path, good], out, scratch=scratch)
        try:  # as multisets: the order of the partitions depends on how many there are, so on the other file
            assert_frame_equal(_good_findings(good, out), _good_findings(good, alone))
        except AssertionError as exc:
            raise AuditContractError("the good file's findings changed", str(exc)[:200]) from None
        import polars as pl

        beside = pl.read_parquet(out / "rejected.parquet").filter(pl.col("file") == str(good))
        if beside.height:
            raise AuditContractError("a good file's row rejected", str(beside.row(0)))
        return [e for e in result.errors if e.file != str(good)]
    return audit_pair
