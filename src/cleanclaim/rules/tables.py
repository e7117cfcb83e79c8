"""The columnar tables every rule reads: claim lines, encounters, patient history, the code book and payer settings.

One claim is a batch of one: `tables_from_encounters` builds the same columns that the CSV/Parquet batch reader
builds, so every rule is written once, over whole columns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

import polars as pl

from cleanclaim.codebook import CodeBook, codebook
from cleanclaim.model import Encounter
from cleanclaim.payers import PayerProfile

T = TypeVar("T")

__all__ = ["ENCOUNTER_SCHEMA", "HISTORY_SCHEMA", "LINE_SCHEMA", "SMALL_RUN", "Tables", "codes_frame", "collect",
           "collect_all", "distinct_values", "frame_from_rows", "lines_with_codes", "tables_from_encounters",
           "tables_from_stored"]


# The optimiser passes that pay for themselves on rule plans: pushing filters and column choices down and simplifying
# expressions. Common-subplan/subexpression elimination and the rest cost more than they save here (measured: a
# third of a single-claim check), because the subplans rules share are memoised tables already.
_OPTIMIZATIONS = pl.QueryOptFlags(
    predicate_pushdown=True, projection_pushdown=True, simplify_expression=True, slice_pushdown=True,
    comm_subplan_elim=False, comm_subexpr_elim=False, cluster_with_columns=False, check_order_observe=False,
    join_order=False, row_estimate=False,
)


def collect(frame: pl.LazyFrame) -> pl.DataFrame:
    """Run a plan on Polars' in-memory engine: on the small tables of one claim it costs about half of what the
    default engine choice does, and on a million lines it is as fast (every table here fits in memory)."""
    return frame.collect(engine="in-memory", optimizations=_OPTIMIZATIONS)


def collect_all(frames: list[pl.LazyFrame]) -> list[pl.DataFrame]:
    """Several plans in one call, run in parallel, each on the in-memory engine."""
    return pl.collect_all(frames, engine="in-memory", optimizations=_OPTIMIZATIONS) if frames else []

LINE_SCHEMA: dict[str, Any] = {
    "encounter_id": pl.String,
    "line": pl.Int32,
    "date": pl.Date,
    "payer": pl.String,
    "place_of_service": pl.String,
    "patient_id": pl.String,
    "provider_npi": pl.String,
    "provider_discipline": pl.String,
    "code": pl.String,
    "modifiers": pl.List(pl.String),
    "units": pl.Float64,
    "minutes": pl.Int64,
    "dx_pointers": pl.List(pl.Int64),
    "charge": pl.Float64,
    "ndc": pl.String,
}

ENCOUNTER_SCHEMA: dict[str, Any] = {
    "encounter_id": pl.String,
    "date": pl.Date,
    "payer": pl.String,
    "place_of_service": pl.String,
    "patient_id": pl.String,
    "provider_npi": pl.String,
    "provider_discipline": pl.String,
    "diagnoses": pl.List(pl.String),
    "total_charge": pl.Float64,
    "billing_npi": pl.String,
    "claim_id": pl.String,
    "subscriber_id": pl.String,
    "payer_id": pl.String,
    "note": pl.String,
    "plan_start": pl.Date,
    "plan_certified_through": pl.Date,
    "assistant_minutes": pl.Int64,
    "services_minutes": pl.Int64,
    "patient_first_name": pl.String,
    "patient_last_name": pl.String,
    "patient_birth_date": pl.Date,
    "patient_sex": pl.String,
    # claim fields with a fixed format, judged by invalid-claim-field (readable but wrong is a finding)
    "patient_state": pl.String,
    "patient_zip": pl.String,
    "subscriber_sex": pl.String,
    "billing_ein": pl.String,
    "billing_state": pl.String,
    "billing_zip": pl.String,
    "billing_phone": pl.String,
}

# One row per documented service (what the note says was done), beside the billed lines.
SERVICE_SCHEMA: dict[str, Any] = {
    "encounter_id": pl.String,
    "code": pl.String,
    "minutes": pl.Int64,
    "assistant_minutes": pl.Int64,
    "furnished_by": pl.String,
    "group_size": pl.Int64,
}

HISTORY_SCHEMA: dict[str, Any] = {
    "patient_id": pl.String,
    "encounter_id": pl.String,
    "date": pl.Date,
    "code": pl.String,
    "modifiers": pl.List(pl.String),
    "units": pl.Float64,
    "allowed": pl.Float64,
    "progress_report": pl.Boolean,
}


@dataclass
class Tables:
    """What the rules see. ``payers`` maps each payer id in the lines to its profile."""

    lines: pl.DataFrame
    encounters: pl.DataFrame
    services: pl.DataFrame
    history: pl.DataFrame
    payers: Mapping[str, PayerProfile]
    as_of: dt.date
    book: CodeBook = field(default_factory=codebook)
    minutes_carried: bool = True
    """False when the input cannot carry documented minutes (an 837P, a claim table without a minutes column): the
    absence of minutes then says nothing about the documentation."""
    carried: frozenset[str] | None = None
    """Encounter columns the input actually carries (None: all of them). A claim-line CSV has no billing provider
    or subscriber columns, so rules about claim-file completeness must not read their nulls as "missing"."""
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def codes(self) -> pl.DataFrame:
        return codes_frame(self.book)

    def memo(self, key: str, build: Callable[[Tables], T]) -> T:
        """A derived table computed once per check run and shared by every rule that needs it (the tables do not
        change while rules run)."""
        if key not in self._memo:
            self._memo[key] = build(self)
        value: T = self._memo[key]
        return value

    def has_memo(self, key: str) -> bool:
        """Whether `memo` already built ``key``: a rule may then reuse it rather than compute a smaller part."""
        return key in self._memo

    def values(self, column: str) -> frozenset[Any]:
        """The distinct values of a line column in this run (a list column's elements), nulls left out: screens ask
        "is any 33 modifier / HBAI code / coach here?" in Python, for microseconds, before a rule builds a plan."""
        return self.memo(f"values:{column}", lambda tables: distinct_values(tables.lines.get_column(column)))

    def screen_lines(self) -> pl.DataFrame:
        """The lines with their code-book entry and their payer's settings: what line screens and many line rules
        read (one join per run instead of one per rule)."""
        return self.memo("screen_lines", lambda t: lines_with_codes(t).join(t.payer_frame(), on="payer", how="left",
                                                                            maintain_order="left"))

    def screen_encounters(self) -> pl.DataFrame:
        """The encounters with their payer's settings, for encounter screens."""
        return self.memo("screen_encounters", lambda t: t.encounters.join(t.payer_frame(), on="payer", how="left",
                                                                          maintain_order="left"))

    def payer_frame(self) -> pl.DataFrame:
        """One row per payer profile with every scalar setting (and the references messages quote); list settings
        such as ``not_covered`` or ``frequency_limits`` are expanded by the rules that use them."""
        return self.memo("payer_frame", _payer_frame)


SMALL_RUN = 1_000
"""Up to this many rows a screen reads a table's values as Python objects and decides in microseconds (a Polars
expression costs tens of microseconds per node, whatever the rows); a larger run is left to expressions or to the
rule itself. One bound for every screen."""


def distinct_values(series: pl.Series) -> frozenset[Any]:
    """The distinct non-null values of a column (a list column's elements): in Python for a small run, where a few
    objects cost less than a Polars unique (~0.1 ms), with ``unique`` for a large one."""
    nested = isinstance(series.dtype, pl.List)
    if series.len() <= SMALL_RUN:
        items = series.to_list()
        flat = [v for item in items if item for v in item] if nested else items
        return frozenset(v for v in flat if v is not None)
    if nested:
        series = series.explode()
    return frozenset(series.drop_nulls().unique().to_list())

_PAYER_SCHEMA: dict[str, Any] = {
    "payer": pl.String, "payer_name": pl.String, "payer_program": pl.String, "time_rule": pl.String,
    "therapy_modifiers_required": pl.Boolean, "assistant_modifiers": pl.Boolean, "use_medicare_codes": pl.Boolean,
    "timely_filing_days": pl.Int64, "timely_filing_reference": pl.String, "modifier_33_allowed": pl.Boolean,
    "modifier_33_reference": pl.String, "telehealth_pos": pl.List(pl.String),
    "telehealth_modifiers": pl.List(pl.String), "telehealth_modifier_required": pl.Boolean,
    "telehealth_reference": pl.String, "progress_report_visits": pl.Int64, "plan_of_care_recert_days": pl.Int64,
}


def _payer_frame(tables: Tables) -> pl.DataFrame:
    rows = [
        {
            "payer": payer_id,
            "payer_name": p.name,
            "payer_program": p.program,
            "time_rule": p.time_rule,
            "therapy_modifiers_required": p.therapy_modifiers == "required",
            "assistant_modifiers": p.assistant_modifiers,
            "use_medicare_codes": p.use_medicare_codes,
            "timely_filing_days": p.timely_filing_days,
            "timely_filing_reference": p.timely_filing_reference,
            "modifier_33_allowed": p.modifier_33_allowed,
            "modifier_33_reference": p.modifier_33_reference,
            "telehealth_pos": list(p.telehealth.places_of_service),
            "telehealth_modifiers": list(p.telehealth.modifiers),
            "telehealth_modifier_required": p.telehealth.modifier_required,
            "telehealth_reference": p.telehealth.reference,
            "progress_report_visits": p.progress_report_visits,
            "plan_of_care_recert_days": p.plan_of_care_recert_days,
        }
        for payer_id, p in tables.payers.items()
    ]
    return pl.DataFrame(rows, schema=_PAYER_SCHEMA)


@cache
def _codes_frame_cached(book_id: int, book: CodeBook) -> pl.DataFrame:
    rows = [
        {
            "code": e.code,
            "kind": e.kind.value,
            "family": e.family,
            "summary": e.summary,
            "time_rule": e.time_rule.value,
            "unit_minutes": e.unit_minutes,
            "typical_minutes": e.typical_minutes,
            "min_minutes": e.min_minutes,
            "max_minutes": e.max_minutes,
            "addon_code": e.addon_code,
            "base_code": e.base_code,
            "time_optional": e.time_optional,
            "therapy": e.therapy,
            "therapy_modifiers": list(e.therapy_modifiers),
            "em": e.em,
            "lab": e.lab,
            "effective": e.effective,
            "deleted": e.deleted,
            "replaced_by": list(e.replaced_by),
            "billers": list(e.billers),
            "medicare_code": e.medicare_code,
            "code_reference": e.reference,
        }
        for e in book
    ]
    return pl.DataFrame(rows, schema_overrides={
        "effective": pl.Date, "deleted": pl.Date, "unit_minutes": pl.Int64, "typical_minutes": pl.Int64,
        "min_minutes": pl.Int64, "max_minutes": pl.Int64, "therapy_modifiers": pl.List(pl.String),
        "replaced_by": pl.List(pl.String), "billers": pl.List(pl.String), "addon_code": pl.String,
        "base_code": pl.String, "medicare_code": pl.String,
    })


def codes_frame(book: CodeBook | None = None) -> pl.DataFrame:
    """Every version of every code as one table (one row per code version)."""
    book = book or codebook()
    return _codes_frame_cached(id(book), book)


def lines_with_codes(tables: Tables) -> pl.DataFrame:
    """Claim lines joined to the code-book version in force on their date of service (left join: unknown codes keep
    null code-book columns)."""
    return tables.memo("lines_with_codes", _lines_with_codes)


def _lines_with_codes(tables: Tables) -> pl.DataFrame:
    in_force = (
        (pl.col("effective").is_null() | (pl.col("date") >= pl.col("effective")))
        & (pl.col("deleted").is_null() | (pl.col("date") < pl.col("deleted")))
    )
    lines = tables.lines.lazy()
    # The version in force is decided once per distinct (code, date) of the batch (a month of claims has a few
    # thousand), then joined to the lines: a line whose code has no version in force on its date keeps null
    # code-book columns.
    versions = (
        lines.select("code", "date").unique()
        .join(tables.codes.lazy(), on="code", how="inner")
        .filter(in_force)
    )
    return collect(lines.join(versions, on=["code", "date"], how="left", maintain_order="left")
                   .sort("encounter_id", "line"))


ARROW_FROM_ROWS = 200


@cache
def _arrow_types() -> dict[Any, Any]:
    import pyarrow as pa  # only batches of Encounter objects need it: kept off start-up

    return {pl.String: pa.string(), pl.Int32: pa.int32(), pl.Int64: pa.int64(), pl.Float64: pa.float64(),
            pl.Date: pa.date32(), pl.Boolean: pa.bool_()}


def _arrow_type(dtype: Any) -> Any:
    if isinstance(dtype, pl.List):
        import pyarrow as pa

        return pa.list_(_arrow_type(dtype.inner))
    return _arrow_types()[dtype]


def frame_from_rows(rows: list[dict[str, Any]], schema: Mapping[str, Any]) -> pl.DataFrame:
    """Rows of Python values as a typed frame, built column by column through Arrow: Polars' own row constructor
    builds one Series per list value (modifiers, pointers), which made this most of a batch check of Encounter
    objects (0.4 s for 20,000 lines; through Arrow 0.04 s). Below ``ARROW_FROM_ROWS`` rows the row constructor is
    the faster of the two; both give the same frame (tests/rules/test_tables.py holds them to it)."""
    if len(rows) < ARROW_FROM_ROWS:
        # a claim or two: the row constructor is faster than setting up Arrow arrays (about 1 ms less a check)
        return pl.DataFrame(rows, schema=dict(schema))
    import pyarrow as pa

    table = pa.table({name: pa.array([row[name] for row in rows], type=_arrow_type(dtype))
                      for name, dtype in schema.items()})
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.cast(dict(schema))  # type: ignore[arg-type]


def _minutes_by_code(encounter: Encounter) -> dict[str, int]:
    documented: dict[str, int] = {}
    for service in encounter.services:
        if service.minutes is not None:
            documented[service.code] = documented.get(service.code, 0) + service.minutes
    return documented


def _patient_history(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """One patient's history, once: encounters of the same patient in a batch often repeat the same ``history:``,
    so a row is kept as many times as the encounter that lists it most often lists it (two identical lines in one
    history stay two)."""
    if not rows:  # most claims come without history: skip the window and the unique (about 1 ms on one claim)
        return pl.DataFrame(schema=HISTORY_SCHEMA)
    frame = pl.DataFrame(rows, schema={"source": pl.String, **HISTORY_SCHEMA})
    identity = [c for c in HISTORY_SCHEMA if c != "encounter_id"]
    return (
        frame.with_columns(pl.int_range(pl.len()).over("source", *identity).alias("occurrence"))
        .unique(subset=[*identity, "occurrence"], keep="first", maintain_order=True)
        .select(list(HISTORY_SCHEMA))
    )


def formatted_claim_fields(encounter: Encounter) -> dict[str, str | None]:
    """The fixed-format claim fields of an encounter, as given (invalid-claim-field judges them)."""
    address, billing = encounter.patient.address, encounter.billing_provider
    return {
        "patient_state": address.state if address else None,
        "patient_zip": address.zip if address else None,
        "subscriber_sex": encounter.subscriber.sex if encounter.subscriber else None,
        "billing_ein": billing.tax_id if billing else None,
        "billing_state": billing.address.state if billing else None,
        "billing_zip": billing.address.zip if billing else None,
        "billing_phone": billing.phone if billing else None,
    }


def tables_from_encounters(
    encounters: Iterable[Encounter],
    payers: Mapping[str, PayerProfile],
    *,
    as_of: dt.date,
    book: CodeBook | None = None,
    minutes_carried: bool = True,
) -> Tables:
    """Build the rule tables from parsed encounters (their billed ``lines``).

    A line without ``minutes`` takes the minutes documented for its code in the encounter's ``services``, once per
    code, so documentation and billing can be compared.
    """
    line_rows: list[dict[str, Any]] = []
    encounter_rows: list[dict[str, Any]] = []
    service_rows: list[dict[str, Any]] = []
    history_rows: list[dict[str, Any]] = []
    for encounter in encounters:
        documented = _minutes_by_code(encounter)
        claimed_minutes: set[str] = set()
        # the encounter's values, read once for all its lines (a batch of Encounter objects spends its time here)
        encounter_id, encounter_date, payer = encounter.id, encounter.date, encounter.payer
        place, patient_id = encounter.place_of_service, encounter.patient.id
        npi, discipline = encounter.provider.npi, encounter.provider.discipline.value
        for number, line in enumerate(encounter.lines, start=1):
            minutes = line.minutes
            if minutes is None and line.code in documented and line.code not in claimed_minutes:
                minutes = documented[line.code]
            if minutes is not None:
                claimed_minutes.add(line.code)
            line_rows.append({
                "encounter_id": encounter_id,
                "line": number,
                "date": line.date or encounter_date,
                "payer": payer,
                "place_of_service": line.place_of_service or place,  # an 837P line's SV105, else the claim's
                "patient_id": patient_id,
                "provider_npi": line.rendering_npi or npi,
                "provider_discipline": discipline,
                "code": line.code,
                "modifiers": list(line.modifiers),
                "units": float(line.units),
                "minutes": minutes,
                "dx_pointers": list(line.dx_pointers),
                "charge": float(line.charge) if line.charge is not None else None,
                "ndc": line.ndc,
            })
        for service in encounter.services:
            service_rows.append({
                "encounter_id": encounter.id,
                "code": service.code,
                "minutes": service.minutes,
                "assistant_minutes": service.assistant_minutes
                if service.assistant_minutes is not None
                else (service.minutes if service.furnished_by.value == "assistant" else 0),
                "furnished_by": service.furnished_by.value,
                "group_size": service.group_size,
            })
        encounter_rows.append({
            "encounter_id": encounter.id,
            "date": encounter.date,
            "payer": encounter.payer,
            "place_of_service": encounter.place_of_service,
            "patient_id": encounter.patient.id,
            "provider_npi": encounter.provider.npi,
            "provider_discipline": encounter.provider.discipline.value,
            "diagnoses": list(encounter.diagnoses),
            "total_charge": float(encounter.total_charge) if encounter.total_charge is not None else None,
            "billing_npi": encounter.billing_provider.npi if encounter.billing_provider else None,
            "claim_id": encounter.claim_id,
            "subscriber_id": encounter.subscriber.member_id if encounter.subscriber else None,
            "payer_id": encounter.payer_id,
            "note": encounter.note,
            "plan_start": encounter.plan_of_care.start if encounter.plan_of_care else None,
            "plan_certified_through": encounter.plan_of_care.certified_through if encounter.plan_of_care else None,
            "assistant_minutes": sum(s.assistant_minutes or 0 for s in encounter.services) or None,
            "services_minutes": sum(s.minutes or 0 for s in encounter.services) or None,
            "patient_first_name": encounter.patient.first_name,
            "patient_last_name": encounter.patient.last_name,
            "patient_birth_date": encounter.patient.birth_date,
            "patient_sex": encounter.patient.sex,
            **formatted_claim_fields(encounter),
        })
        for past in encounter.history:
            history_rows.append({
                "source": encounter.id,
                "patient_id": encounter.patient.id,
                "encounter_id": None,
                "date": past.date,
                "code": past.code,
                "modifiers": list(past.modifiers),
                "units": float(past.units),
                "allowed": float(past.allowed) if past.allowed is not None else None,
                "progress_report": past.progress_report,
            })
    return Tables(
        lines=frame_from_rows(line_rows, LINE_SCHEMA),
        encounters=frame_from_rows(encounter_rows, ENCOUNTER_SCHEMA),
        services=frame_from_rows(service_rows, SERVICE_SCHEMA),
        history=_patient_history(history_rows),
        payers=payers,
        as_of=as_of,
        book=book or codebook(),
        minutes_carried=minutes_carried,
    )


def _day(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _amount(value: Any) -> float | None:
    return float(value) if value is not None else None


def tables_from_stored(
    claims: Iterable[tuple[str, Mapping[str, Any], Iterable[Mapping[str, Any]]]],
    payers: Mapping[str, PayerProfile],
    *,
    as_of: dt.date,
    book: CodeBook | None = None,
) -> Tables:
    """The rule tables of stored claims, built straight from what the store holds: each claim's encounter as its
    interchange JSON (``Encounter.model_dump(mode="json")`` of an encounter validated on import) and its billed
    lines as field dicts (the `ClaimLine` fields, dates and amounts as Python values), under the id the run gives
    it.

    It exists because rebuilding a pydantic `Encounter` per claim only to read it back into columns cost a batch
    scrub of the workspace more than the rules did. The columns are exactly those of `tables_from_encounters` on the
    validated encounters (tests/store/test_scrub_tables.py holds the two to it on varied claims): keep them in step.
    """
    line_rows: list[dict[str, Any]] = []
    encounter_rows: list[dict[str, Any]] = []
    service_rows: list[dict[str, Any]] = []
    history_rows: list[dict[str, Any]] = []
    for key, data, lines in claims:
        services: list[Mapping[str, Any]] = data.get("services") or []
        documented: dict[str, int] = {}
        for service in services:
            if service.get("minutes") is not None:
                documented[service["code"]] = documented.get(service["code"], 0) + service["minutes"]
        claimed_minutes: set[str] = set()
        encounter_date = _day(data["date"])
        payer, place = data.get("payer", "medicare"), data.get("place_of_service", "11")
        patient, provider = data["patient"], data["provider"]
        patient_id, npi, discipline = patient["id"], provider.get("npi"), provider["discipline"]
        for number, line in enumerate(lines, start=1):
            code = line["code"]
            minutes = line.get("minutes")
            if minutes is None and code in documented and code not in claimed_minutes:
                minutes = documented[code]
            if minutes is not None:
                claimed_minutes.add(code)
            line_rows.append({
                "encounter_id": key,
                "line": number,
                "date": _day(line.get("date")) or encounter_date,
                "payer": payer,
                "place_of_service": line.get("place_of_service") or place,
                "patient_id": patient_id,
                "provider_npi": line.get("rendering_npi") or npi,
                "provider_discipline": discipline,
                "code": code,
                "modifiers": list(line.get("modifiers") or []),
                "units": float(line.get("units", 1)),
                "minutes": minutes,
                "dx_pointers": list(line.get("dx_pointers") or []),
                "charge": _amount(line.get("charge")),
                "ndc": line.get("ndc"),
            })
        for service in services:
            furnished_by = service.get("furnished_by", "therapist")
            assistant = service.get("assistant_minutes")
            service_rows.append({
                "encounter_id": key,
                "code": service["code"],
                "minutes": service.get("minutes"),
                "assistant_minutes": assistant if assistant is not None
                else (service.get("minutes") if furnished_by == "assistant" else 0),
                "furnished_by": furnished_by,
                "group_size": service.get("group_size"),
            })
        billing, subscriber = data.get("billing_provider"), data.get("subscriber")
        plan, address = data.get("plan_of_care"), patient.get("address")
        encounter_rows.append({
            "encounter_id": key,
            "date": encounter_date,
            "payer": payer,
            "place_of_service": place,
            "patient_id": patient_id,
            "provider_npi": npi,
            "provider_discipline": discipline,
            "diagnoses": list(data.get("diagnoses") or []),
            "total_charge": _amount(data.get("total_charge")),
            "billing_npi": billing["npi"] if billing else None,
            "claim_id": data.get("claim_id"),
            "subscriber_id": subscriber.get("member_id") if subscriber else None,
            "payer_id": data.get("payer_id"),
            "note": data.get("note"),
            "plan_start": _day(plan["start"]) if plan else None,
            "plan_certified_through": _day(plan.get("certified_through")) if plan else None,
            "assistant_minutes": sum(s.get("assistant_minutes") or 0 for s in services) or None,
            "services_minutes": sum(s.get("minutes") or 0 for s in services) or None,
            "patient_first_name": patient.get("first_name"),
            "patient_last_name": patient.get("last_name"),
            "patient_birth_date": _day(patient.get("birth_date")),
            "patient_sex": patient.get("sex"),
            "patient_state": address["state"] if address else None,
            "patient_zip": address["zip"] if address else None,
            "subscriber_sex": subscriber.get("sex") if subscriber else None,
            "billing_ein": billing["tax_id"] if billing else None,
            "billing_state": billing["address"]["state"] if billing else None,
            "billing_zip": billing["address"]["zip"] if billing else None,
            "billing_phone": billing.get("phone") if billing else None,
        })
        for past in data.get("history") or []:
            history_rows.append({
                "source": key,
                "patient_id": patient_id,
                "encounter_id": None,
                "date": _day(past["date"]),
                "code": past["code"],
                "modifiers": list(past.get("modifiers") or []),
                "units": float(past.get("units", 1)),
                "allowed": _amount(past.get("allowed")),
                "progress_report": bool(past.get("progress_report", False)),
            })
    return Tables(
        lines=frame_from_rows(line_rows, LINE_SCHEMA),
        encounters=frame_from_rows(encounter_rows, ENCOUNTER_SCHEMA),
        services=frame_from_rows(service_rows, SERVICE_SCHEMA),
        history=_patient_history(history_rows),
        payers=payers,
        as_of=as_of,
        book=book or codebook(),
    )
