"""The two main jobs, as typed functions the CLI and the web app call: ``code`` (documented services to claim lines)
and ``check`` (scrub billed lines against the rule catalogue). Both read the same inputs (Encounter objects, an
encounter YAML/JSON file or folder; ``check`` also claim-line CSV/Parquet and 837P files) and never raise for a bad
encounter or row: it is reported in ``errors`` and everything else is processed. Nor does a bug that only some records
trigger cost the others: the records it is isolated to are reported in ``failures`` (see `cleanclaim.isolation`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from cleanclaim.notes.reading import NoteReading

from cleanclaim.codebook import codebook
from cleanclaim.coding import CodedEncounter, Locate, code_encounters
from cleanclaim.errors import UNFORESEEN, InputError
from cleanclaim.formats.claim_table import TABLE_SUFFIXES, read_claim_table
from cleanclaim.formats.encounters import EncounterFile, load_encounters
from cleanclaim.gcpause import collector_paused
from cleanclaim.isolation import Failure, bisect_failures, describe, unexpected
from cleanclaim.model import ClaimLine, Encounter, Finding, Severity
from cleanclaim.payers import PayerProfile, load_profile, profile_for
from cleanclaim.rules.engine import (
    FINDING_SCHEMA,
    RuleSelection,
    findings_from_table,
    findings_table,
    in_encounter_order,
)
from cleanclaim.rules.registry import Rule, all_rules, get_rule
from cleanclaim.rules.tables import HISTORY_SCHEMA, SERVICE_SCHEMA, Tables, tables_from_encounters

__all__ = ["CheckResult", "CodeResult", "Failure", "Summary", "billable_encounters", "check", "check_lines",
           "check_tables", "code"]

X12_SUFFIXES = (".837", ".x12", ".edi", ".837p")
# Claim-file completeness (charges, ids) is checked by `check` and enforced by `export`; the coder's lines have no
# charges yet, so these rules would only repeat that in `code`.
NOT_FOR_CODING = frozenset({"missing-required-field", "charge-total-mismatch"})
Source = str | Path | Encounter | Iterable[Encounter]


@dataclass(frozen=True)
class Summary:
    encounters: int
    lines: int
    errors: int
    warnings: int
    info: int
    rows_read: int | None = None
    rows_rejected: int | None = None

    def to_dict(self) -> dict[str, int]:
        data = {"encounters": self.encounters, "lines": self.lines, "errors": self.errors,
                "warnings": self.warnings, "info": self.info}
        if self.rows_read is not None:
            data["rows_read"] = self.rows_read
            data["rows_checked"] = self.rows_read - (self.rows_rejected or 0)
            data["rows_rejected"] = self.rows_rejected or 0
        return data


def _summary(findings: pl.DataFrame, encounters: int, lines: int, rows_read: int | None = None,
             rows_rejected: int | None = None) -> Summary:
    severities = findings.get_column("severity")
    count = {s: int((severities == s.value).sum()) for s in Severity}
    return Summary(encounters, lines, count[Severity.ERROR], count[Severity.WARNING], count[Severity.INFO],
                   rows_read, rows_rejected)


def _exit_code(error_findings: bool, errors: list[InputError], failures: list[Failure]) -> int:
    """The contract's status, the gravest first: 3 cleanclaim failed on some records, 2 some input could not be
    read, 1 error findings."""
    if failures:
        return 3
    if errors:
        return 2
    return 1 if error_findings else 0


@dataclass
class CodeResult:
    """Coded encounters (lines, findings, explanation) and the parts of the input that could not be read."""

    encounters: list[CodedEncounter]
    errors: list[InputError] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    """Encounters a bug in cleanclaim kept from being coded, or a rule from checking (the rest were processed)."""

    @property
    def findings(self) -> list[Finding]:
        return [f for e in self.encounters for f in e.findings]

    @property
    def exit_code(self) -> int:
        """0 nothing wrong, 1 error findings, 2 some input could not be read (the rest was still coded), 3 cleanclaim
        failed on some encounters (the rest was still coded)."""
        return _exit_code(any(f.severity is Severity.ERROR for f in self.findings), self.errors, self.failures)

    def to_json(self) -> dict[str, Any]:
        """The `cleanclaim code --json` contract."""
        data: dict[str, Any] = {"encounters": [
            {
                "id": coded.id,
                "lines": [_line_json(line) for line in coded.lines],
                "findings": [f.model_dump(mode="json") for f in coded.findings],
                "explanation": coded.explanation,
            }
            for coded in self.encounters
        ]}
        if self.errors:
            data["errors"] = [e.to_dict() for e in self.errors]
        if self.failures:
            data["failures"] = [f.to_dict() for f in self.failures]
        return data


def _line_json(line: ClaimLine) -> dict[str, Any]:
    """A coded line in the contract's shape: minutes always present (null on add-on and CQ/CO split lines, whose
    minutes are counted on the code's first line); charge only once a charge master has set it."""
    data = line.model_dump(mode="json", include={"code", "modifiers", "units", "minutes", "dx_pointers", "charge"})
    if data.get("charge") is None:
        data.pop("charge", None)
    return data


@dataclass
class CheckResult:
    table: pl.DataFrame
    """The findings as one table (columns of the contract's finding object, ordered by encounter, line and rule id):
    a batch audit's million findings stay columnar until something asks for objects."""
    summary: Summary
    errors: list[InputError] = field(default_factory=list)
    coded: list[CodedEncounter] = field(default_factory=list)
    """Encounters that had services but no billed lines: they were coded first, and these lines were checked."""
    notes: list[InputError] = field(default_factory=list)
    """What the reader assumed about readable input (e.g. a table without patient ids), said once; no exit status."""
    failures: list[Failure] = field(default_factory=list)
    """Encounters a bug in cleanclaim kept from being coded, or a rule from checking (the rest were checked)."""

    @cached_property
    def findings(self) -> list[Finding]:
        return findings_from_table(self.table)

    @property
    def exit_code(self) -> int:
        """0 no errors, 1 errors found, 2 some input could not be read, 3 cleanclaim failed on some encounters (in
        both cases the rest was still checked)."""
        return _exit_code(self.summary.errors > 0, self.errors, self.failures)

    def to_json(self) -> dict[str, Any]:
        """The `cleanclaim check --json` contract."""
        data: dict[str, Any] = {"findings": self.table.to_dicts(), "summary": self.summary.to_dict()}
        if self.errors:
            data["errors"] = [e.to_dict() for e in self.errors]
        if self.notes:
            data["notes"] = [n.to_dict() for n in self.notes]
        if self.failures:
            data["failures"] = [f.to_dict() for f in self.failures]
        return data


class _Profiles:
    """Payer profiles by id, loaded once. A payer without a profile is checked under the fallback profile (the
    ``unknown-payer-profile`` rule says so); an id that is not a plain name, or a broken profile file, becomes an
    input error for its encounter."""

    def __init__(self, payers_dir: Path | None) -> None:
        self.extra = [payers_dir] if payers_dir else []
        self.cache: dict[str, PayerProfile] = {}

    def get(self, payer: str) -> PayerProfile:
        if payer not in self.cache:
            self.cache[payer] = profile_for(payer, self.extra)
        return self.cache[payer]


def _x12_path(source: Source) -> Path | None:
    """The path of an X12 claim file (by its suffix, or a file starting with ISA), else None."""
    if not isinstance(source, str | Path):
        return None
    path = Path(source)
    return path if path.suffix.lower() in X12_SUFFIXES or (path.is_file() and _looks_like_x12(path)) else None


def _read_encounters(source: Source) -> EncounterFile:
    if isinstance(source, Encounter):
        return EncounterFile(sources=["<python>"], encounters=[source])
    if isinstance(source, str | Path):
        path = Path(source)
        if _x12_path(path) is not None:
            from cleanclaim.formats.x12_837p import read_837p

            read = read_837p(path)
            return EncounterFile(sources=[str(path)], encounters=read.encounters, errors=list(read.errors),
                                 minutes_carried=False)
        return load_encounters(path)
    return EncounterFile(sources=["<python>"], encounters=list(source))


def _looks_like_x12(path: Path) -> bool:
    if path.suffix.lower() in {".yaml", ".yml", ".json", ".csv", ".parquet", ".pq"}:
        return False
    with path.open("rb") as handle:
        return handle.read(3) == b"ISA"


def _payer_option(payer: str | None, payers_dir: Path | None) -> None:
    """``--payer`` is the user's explicit choice, not claim data: a path or a profile that does not exist is an
    input error for the whole run (a typo must not check every claim under the fallback profile)."""
    if payer:
        try:
            load_profile(payer, [payers_dir] if payers_dir else [])
        except InputError as exc:
            raise InputError(exc.message, file=exc.file, field="--payer") from None


def _with_payer(encounters: list[Encounter], payer: str | None) -> list[Encounter]:
    return [e.model_copy(update={"payer": payer}) for e in encounters] if payer else encounters


def _code_all(read: EncounterFile, profiles: _Profiles, *, only_without_lines: bool, isolate: bool = True) -> tuple[
        list[CodedEncounter], list[Encounter], list[InputError], list[Failure]]:
    errors: list[InputError] = []
    # (encounter, its profile, where its fields are in the file; None: keep its billed lines as they are)
    plan: list[tuple[Encounter, PayerProfile, Locate | None]] = []
    for encounter in read.encounters:
        try:
            profile = profiles.get(encounter.payer)
        except InputError as exc:
            line = read.line_of(encounter.id, "payer")
            errors.append(InputError(exc.message, file=read.sources[0] if len(read.sources) == 1 else None,
                                     line=line, field="payer", encounter=encounter.id))
            continue
        if only_without_lines and (encounter.lines or not encounter.services):
            plan.append((encounter, profile, None))
            continue

        def locate(path: str, _id: str = encounter.id) -> str | None:
            line = read.line_of(_id, path)
            return f"line {line}" if line is not None else None

        plan.append((encounter, profile, locate))
    # coded together: same-day encounters of one patient share the day's timed minutes
    coded, failures = _code_isolated([item for item in plan if item[2] is not None], isolate)
    results: list[CodedEncounter] = []
    kept: list[Encounter] = []
    position = 0  # in the coder's input
    for encounter, _, where in plan:
        if where is None:
            kept.append(encounter)
            continue
        if (result := coded.get(position)) is not None:
            results.append(result)
            kept.append(result.encounter)
        position += 1
    return results, kept, errors, failures


def _code_isolated(items: list[tuple[Encounter, PayerProfile, Locate | None]], isolate: bool) -> tuple[
        dict[int, CodedEncounter], list[Failure]]:
    """The coded encounters (by their position in ``items``) and the patient-days the coder failed on. A patient's
    same-day encounters share their timed minutes, so a patient-day is coded whole or not at all: never half of it,
    which would bill its minutes differently."""
    try:
        return dict(enumerate(code_encounters(items))), []
    except UNFORESEEN as exc:
        if not isolate or not unexpected(exc):
            raise
        first = exc
    days: dict[tuple[object, ...], list[int]] = {}
    for index, (encounter, _, _) in enumerate(items):
        days.setdefault((encounter.patient.id, encounter.date), []).append(index)

    def code_days(part: list[list[int]]) -> list[CodedEncounter]:
        return code_encounters([items[index] for day in part for index in day])

    done, failed = bisect_failures(list(days.values()), code_days, first)
    coded: dict[int, CodedEncounter] = {}
    for part, results in done:
        for index, result in zip((index for day in part for index in day), results, strict=True):
            coded[index] = result
    failures = [Failure(tuple(items[index][0].id for index in day), describe(exc), "coding", exception=exc)
                for day, exc in sorted(failed, key=lambda pair: pair[0][0])]
    return coded, failures


def _findings_isolated(tables: Tables, selection: RuleSelection | None) -> tuple[pl.DataFrame, list[Failure]]:
    """Every enabled rule over the tables (`findings_table`), and if that raises, every rule on its own: a rule that
    raises is retried on halves of the patients (a patient's lines, history and days are the rules' unit) until the
    patients it fails on are known. Each rule and error is one failure naming all the encounters it missed, so a
    rule that crashes on everything is reported once; every other rule's findings, and the failing rule's on the
    other patients, are kept."""
    try:
        return findings_table(tables, selection), []
    except UNFORESEEN as exc:
        if not unexpected(exc):
            raise
    chosen = selection or RuleSelection()
    frames: list[pl.DataFrame] = []
    failures: list[Failure] = []
    for rule in all_rules():
        if not chosen.enabled(rule):
            continue
        alone = RuleSelection(select=frozenset({rule.slug}), severity=chosen.severity)
        try:
            frames.append(findings_table(tables, alone))
        except UNFORESEEN as exc:
            if not unexpected(exc):
                raise
            found, failed = _rule_by_patient(tables, alone, rule, exc)
            frames.extend(found)
            failures.extend(failed)
    order = tables.encounters.get_column("encounter_id")
    table = pl.concat(frames) if frames else pl.DataFrame(schema=FINDING_SCHEMA)
    return in_encounter_order(table, order), failures


def _rule_by_patient(tables: Tables, alone: RuleSelection, rule: Rule, first: BaseException) -> tuple[
        list[pl.DataFrame], list[Failure]]:
    patients = tables.encounters.get_column("patient_id").unique(maintain_order=True).to_list()
    done, failed = bisect_failures(patients, lambda part: findings_table(_for_patients(tables, part), alone), first)
    by_error: dict[str, tuple[BaseException, list[object]]] = {}
    for patient, exc in failed:
        by_error.setdefault(describe(exc), (exc, []))[1].append(patient)
    failures = []
    for error, (exc, missed) in by_error.items():
        encounters = tables.encounters.filter(_of_patients(missed)).get_column("encounter_id").to_list()
        failures.append(Failure(tuple(encounters), error, "rules", rule.slug, exception=exc))
    return [found for _, found in done], failures


def _of_patients(patients: list[object]) -> pl.Expr:
    """Rows of these patients; a missing patient id is a patient of its own here (the reader has said how it
    groups such rows)."""
    named = pl.col("patient_id").is_in([p for p in patients if p is not None])
    return (named | pl.col("patient_id").is_null()) if None in patients else named.fill_null(False)


def _for_patients(tables: Tables, patients: list[object]) -> Tables:
    """The tables cut down to some patients: their lines, encounters, services and history, nothing else changed."""
    encounters = tables.encounters.filter(_of_patients(patients))
    ids = encounters.get_column("encounter_id")
    return replace(
        tables, lines=tables.lines.filter(_of_patients(patients)), encounters=encounters,
        services=tables.services.filter(pl.col("encounter_id").is_in(ids.implode())),
        history=tables.history.filter(_of_patients(patients)), _memo={})


def _merge_findings(coded: CodedEncounter, checked: list[Finding],
                    selection: RuleSelection | None = None) -> list[Finding]:
    # The coder's own decision already covers a rule for a code; the scrub adds everything else except claim-file
    # completeness, which the coder's charge-less lines would always fail.
    # nothing to bill means no claim: its filing deadline says nothing (the NPI, the diagnoses still do)
    skipped = NOT_FOR_CODING if coded.lines else NOT_FOR_CODING | {"timely-filing"}
    own = _selected(coded.findings, selection or RuleSelection())
    decided = {(f.rule, f.code) for f in own}
    extra = [f for f in checked if f.encounter == coded.id and (f.rule, f.code) not in decided
             and f.rule not in skipped]
    return [*own, *extra]


def _selected(findings: list[Finding], selection: RuleSelection) -> list[Finding]:
    """The coder's findings under the user's rule selection, as the scrub's are: ``--ignore CC303`` must drop the
    coder's CC303 too (and its exit status), and ``--severity`` must restate it."""
    kept = []
    for finding in findings:
        rule = get_rule(finding.rule)
        if not selection.enabled(rule):
            continue
        override = selection.severity_of(rule)
        kept.append(finding.model_copy(update={"severity": override}) if override else finding)
    return kept


def billable_encounters(source: Source, *, payer: str | None = None, payers_dir: Path | None = None,
                        failures: list[Failure] | None = None) -> tuple[list[Encounter], list[InputError]]:
    """Encounters ready for a claim: billed ``lines`` as given, or coded from ``services`` when there are none
    (for export and pricing). Encounters the coder fails on are added to ``failures`` and left out; a caller that
    passes no list gets an exception instead, so no claim is ever dropped without a word."""
    _payer_option(payer, payers_dir)
    read = _read_encounters(source)
    read.encounters = _with_payer(read.encounters, payer)
    # a caller that cannot report failures gets the exception, as before, rather than claims lost without a word
    _, kept, errors, found = _code_all(read, _Profiles(payers_dir), only_without_lines=True,
                                       isolate=failures is not None)
    if failures is not None:
        failures.extend(found)
    return kept, [*read.errors, *errors]


@collector_paused()
def code(
    source: Source,
    *,
    payer: str | None = None,
    as_of: dt.date | None = None,
    payers_dir: Path | None = None,
    selection: RuleSelection | None = None,
) -> CodeResult:
    """Code documented services into claim lines, then scrub the lines, so the result can be billed as it is."""
    _payer_option(payer, payers_dir)
    read = _read_encounters(source)
    read.encounters = _with_payer(read.encounters, payer)
    profiles = _Profiles(payers_dir)
    coded, kept, errors, failures = _code_all(read, profiles, only_without_lines=False)
    if coded:
        tables = tables_from_encounters(kept, {p: profiles.get(p) for p in {e.payer for e in kept}},
                                        as_of=as_of or dt.date.today())
        found, rule_failures = _findings_isolated(tables, selection)
        failures.extend(rule_failures)
        checked = findings_from_table(found)
        for item in coded:
            item.findings = _merge_findings(item, checked, selection)
    return CodeResult(coded, [*read.errors, *errors], failures)


@collector_paused()
def check(
    source: Source,
    *,
    payer: str | None = None,
    as_of: dt.date | None = None,
    payers_dir: Path | None = None,
    selection: RuleSelection | None = None,
) -> CheckResult:
    """Scrub claims: every enabled rule over every line. Encounters with services but no lines are coded first."""
    as_of = as_of or dt.date.today()
    _payer_option(payer, payers_dir)
    profiles = _Profiles(payers_dir)
    if isinstance(source, str | Path) and Path(source).suffix.lower() in TABLE_SUFFIXES:
        return _check_table(Path(source), profiles, payer=payer, as_of=as_of, selection=selection)
    from cleanclaim.notes.batch import workers_ahead

    with workers_ahead(source):
        read = _read_encounters(source)
        read.encounters = _with_payer(read.encounters, payer)
        coded, kept, errors, failures = _code_all(read, profiles, only_without_lines=True)
        kept = _with_notes_services(kept)
        tables = tables_from_encounters(kept, {p: profiles.get(p) for p in {e.payer for e in kept}}, as_of=as_of,
                                        minutes_carried=read.minutes_carried)
        table, rule_failures = _findings_isolated(tables, selection)
    failures.extend(rule_failures)
    if coded:
        table = _with_coded(table, coded, [e.id for e in kept], selection)
    x12 = _x12_path(source)
    errors = [*read.errors, *errors]
    notes: list[InputError] = []
    if x12 is not None:
        try:
            table = _with_x12(table, x12, selection, [e.id for e in kept])
        except UNFORESEEN as exc:  # the rules' findings stand; the file's syntax check is what is missing
            if not unexpected(exc):
                raise
            failures.append(Failure(tuple(e.id for e in kept), describe(exc), "x12 validation", exception=exc))
        errors, notes = _envelope_controls(errors, selection)
    return CheckResult(table, _summary(table, len(kept), tables.lines.height), errors, coded, notes=notes,
                       failures=failures)


def _takes_note_services(encounter: Encounter) -> bool:
    return bool(encounter.lines) and not encounter.services and bool(encounter.note)


def _with_notes_services(encounters: list[Encounter]) -> list[Encounter]:
    """`_with_note_services` of each encounter, the notes read together (`read_notes`: in worker processes for a large
    batch, and kept, so the notes rules' own reading of the same notes is a look-up)."""
    from cleanclaim.notes.batch import read_notes

    readings = read_notes([e.note if _takes_note_services(e) else None for e in encounters])
    return [_with_note_services(e, reading) if _takes_note_services(e) else e
            for e, reading in zip(encounters, readings, strict=True)]


def _with_note_services(encounter: Encounter, reading: NoteReading) -> Encounter:
    """An encounter with billed lines and a note but no ``services``: the note's documented minutes become its
    services, so the time and units rules judge the lines against what the note says (issue 13). A service the
    note names by a family (tobacco counseling: 99406 or 99407) takes the family member that is billed."""
    from cleanclaim.model import Service

    billed = {line.code for line in encounter.lines}
    minutes: dict[str, int] = {}
    assistant: dict[str, int] = {}
    for item in reading.interventions:
        if item.minutes is None or item.code is None:
            continue
        code = next((c for c in item.codes if c in billed), item.code)
        minutes[code] = minutes.get(code, 0) + item.minutes
        assistant[code] = assistant.get(code, 0) + item.assistant_minutes
    if not minutes:
        return encounter
    services = [Service(code=code, minutes=total, assistant_minutes=assistant[code] or None)
                for code, total in minutes.items()]
    return encounter.model_copy(update={"services": services})


def _envelope_controls(errors: list[InputError], selection: RuleSelection | None) -> tuple[
        list[InputError], list[InputError]]:
    """An 837P whose envelope counts or control numbers are wrong still has intact claims, which were read: that is
    readable but wrong, a finding (x12-envelope), not an input error. With x12-envelope not selected, the reader's
    message stays as a note (no exit status)."""
    from cleanclaim.rules.registry import get_rule

    controls = [e for e in errors if getattr(e, "envelope_control", False)]
    if not controls:
        return errors, []
    rest = [e for e in errors if not getattr(e, "envelope_control", False)]
    reported = (selection or RuleSelection()).enabled(get_rule("x12-envelope"))
    return rest, [] if reported else controls


def _with_x12(table: pl.DataFrame, path: Path, selection: RuleSelection | None, order: list[str]) -> pl.DataFrame:
    """An X12 file's syntax and TR3 errors (the `x12` family) beside the rules' findings, selected like them."""
    from cleanclaim.formats.x12 import read_x12_text
    from cleanclaim.formats.x12_validation import X12_RULES, x12_findings_table
    from cleanclaim.rules.registry import get_rule

    chosen = selection or RuleSelection()
    if not any(chosen.enabled(get_rule(rule.slug)) for rule in X12_RULES):
        return table  # validation costs 0.3-0.8 ms a segment: not run when its findings are not wanted
    try:
        text, _ = read_x12_text(path)
    except InputError:  # the reader has reported why the file cannot be read
        return table

    def keep(finding: Finding) -> Severity | None:
        rule = get_rule(finding.rule)
        return (chosen.severity_of(rule) or finding.severity) if chosen.enabled(rule) else None

    found = x12_findings_table(text, keep)
    if not found.height:
        return table
    return in_encounter_order(pl.concat([table, found]), pl.Series(order, dtype=pl.String))


def _with_coded(table: pl.DataFrame, coded: list[CodedEncounter], order: list[str],
                selection: RuleSelection | None = None) -> pl.DataFrame:
    """The coder's findings take the place of the scrub's for the encounters it coded (see `_merge_findings`)."""
    coded_ids = [c.id for c in coded]
    checked = findings_from_table(table.filter(pl.col("encounter").is_in(coded_ids)))
    merged = [f.model_dump(mode="json") for item in coded for f in _merge_findings(item, checked, selection)]
    return in_encounter_order(
        pl.concat([table.filter(~pl.col("encounter").is_in(coded_ids).fill_null(True)),
                   pl.DataFrame(merged, schema=FINDING_SCHEMA)]),
        pl.Series(order, dtype=pl.String))


def check_lines(lines: pl.DataFrame, encounters: pl.DataFrame, payers: dict[str, PayerProfile], *, as_of: dt.date,
                selection: RuleSelection | None, carried: frozenset[str],
                minutes_carried: bool) -> tuple[pl.DataFrame, list[Failure]]:
    """Every enabled rule over claim-table lines and encounters (as `read_claim_table` makes them), failures
    isolated: the one engine of ``check`` on a table, which a batch audit also runs on each partition of patients."""
    tables = Tables(
        lines=lines,
        encounters=encounters,
        services=pl.DataFrame(schema=SERVICE_SCHEMA),
        history=pl.DataFrame(schema=HISTORY_SCHEMA),
        payers=payers,
        as_of=as_of,
        book=codebook(),
        carried=carried,
        minutes_carried=minutes_carried,
    )
    return _findings_isolated(tables, selection)


def check_tables(tables: Tables, selection: RuleSelection | None = None) -> tuple[pl.DataFrame, list[Failure]]:
    """Every enabled rule over tables the caller built (the workspace's stored claims, `tables_from_stored`),
    failures isolated: the one engine of ``check``, for callers that already hold their claims as columns."""
    return _findings_isolated(tables, selection)


def payer_rows(lines: pl.DataFrame, encounters: pl.DataFrame, payer: str) -> pl.Series:
    """The lines a payer id without a profile leaves unchecked: its own lines, and every line of a claim whose payer
    it is (a claim's payer is its first line's, so a later line naming a good payer would otherwise be kept
    without its claim: counted as checked, and checked by no rule)."""
    claims = encounters.filter(pl.col("payer").eq_missing(payer)).get_column("encounter_id")
    return lines.get_column("payer").eq_missing(payer) | lines.get_column("encounter_id").is_in(claims.implode())


def _check_table(path: Path, profiles: _Profiles, *, payer: str | None, as_of: dt.date,
                 selection: RuleSelection | None) -> CheckResult:
    table = read_claim_table(path, default_payer=payer or "medicare")
    lines, encounters, errors = table.lines, table.encounters, list(table.errors)
    if payer:
        lines = lines.with_columns(pl.lit(payer).alias("payer"))
        encounters = encounters.with_columns(pl.lit(payer).alias("payer"))
    payers: dict[str, PayerProfile] = {}
    unchecked = pl.repeat(False, lines.height, eager=True)
    for payer_key in lines.get_column("payer").unique(maintain_order=True).to_list():
        try:
            payers[payer_key] = profiles.get(payer_key)
        except InputError as exc:
            at = payer_rows(lines, encounters, payer_key) & ~unchecked  # each row counted once
            if not at.any():  # its rows are all of claims another payer id left unchecked: said there
                continue
            unchecked = unchecked | at
            affected = lines.filter(at).get_column("encounter_id").unique(maintain_order=True)
            shown = ", ".join(affected.head(10).to_list()) + (" …" if affected.len() > 10 else "")
            rows = table.line_rows.filter(at)
            first = int(rows.min())  # type: ignore[arg-type]  # not empty (above)
            others = f" and {rows.len() - 1} other row(s)" if rows.len() > 1 else ""
            errors.append(InputError(f"{exc.message}; not checked: row {first}{others}, of encounter(s) {shown}",
                                     file=str(path), row=first, field="payer",
                                     encounter=affected.item() if affected.len() == 1 else None))
    rejected = int(unchecked.sum())
    if rejected:
        lines = lines.filter(~unchecked)
        encounters = encounters.filter(pl.col("payer").is_in(list(payers)))
    found, failures = check_lines(lines, encounters, payers, as_of=as_of, selection=selection,
                                  carried=table.carried, minutes_carried=table.minutes_carried)
    summary = _summary(found, encounters.height, lines.height, table.rows_read, table.rows_rejected + rejected)
    return CheckResult(found, summary, errors, notes=list(table.notes), failures=failures)
