"""The columnar tables every rule reads: claim lines, encounters, patient history, the code book and payer settings.

One claim is a batch of one: `tables_from_encounters` builds the same columns that the CSV/Parquet batch reader
builds, so every rule is written once, over whole columns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

import polars as pl

from cleanclaim.codebook import CodeBook, codebook
from cleanclaim.model import Encounter
from cleanclaim.payers import PayerProfile

T = TypeVar("T")

__all__ = ["ENCOUNTER_SCHEMA", "HISTORY_SCHEMA", "LINE_SCHEMA", "SMALL_RUN", "STORED_ENCOUNTER_JSON",
           "STORED_LINE_SCHEMA", "Tables", "codes_frame", "collect", "collect_all", "distinct_values",
           "frame_from_rows", "key_may_repeat", "large_run", "lines_with_codes", "tables_from_encounters",
           "tables_from_stored"]


# The optimiser passes that pay for themselves on rule plans: pushing filters and column choices down and simplifying
# expressions. Common-subplan/subexpression elimination and the rest cost more than they save on one claim (measured:
# a third of a single-claim check), because the subplans rules share are memoised tables already.
_OPTIMIZATIONS = pl.QueryOptFlags(
    predicate_pushdown=True, projection_pushdown=True, simplify_expression=True, slice_pushdown=True,
    comm_subplan_elim=False, comm_subexpr_elim=False, cluster_with_columns=False, check_order_observe=False,
    join_order=False, row_estimate=False,
)
# On a large run the balance turns: a rule plan that reads one derived frame several times (a claim's diagnoses
# exploded and normalised, read by three branches of diagnosis-does-not-support-procedure) computes it once per read
# without common-subplan elimination, and that recomputation costs more than the elimination's planning. Measured on
# a 200,000-line partition: the rules' CPU time 2.62 s -> 2.11 s, identical findings (bench/README.md).
_LARGE_RUN_OPTIMIZATIONS = pl.QueryOptFlags(
    predicate_pushdown=True, projection_pushdown=True, simplify_expression=True, slice_pushdown=True,
    comm_subplan_elim=True, comm_subexpr_elim=True, cluster_with_columns=False, check_order_observe=False,
    join_order=False, row_estimate=False,
)
_LARGE: ContextVar[bool] = ContextVar("cleanclaim_large_run", default=False)


@contextmanager
def large_run(rows: int) -> Iterator[None]:
    """Within the block, `collect` and `collect_all` use the large-run optimiser passes when ``rows`` (the run's
    lines and encounters) exceeds `SMALL_RUN`. The passes change how a plan runs, never what it returns. A plan
    collected on a thread that does not inherit the context (a ``map_batches`` callback) keeps the small-run
    passes: slower, the same result."""
    token = _LARGE.set(rows > SMALL_RUN)
    try:
        yield
    finally:
        _LARGE.reset(token)


def _optimizations() -> pl.QueryOptFlags:
    return _LARGE_RUN_OPTIMIZATIONS if _LARGE.get() else _OPTIMIZATIONS


def collect(frame: pl.LazyFrame) -> pl.DataFrame:
    """Run a plan on Polars' in-memory engine: on the small tables of one claim it costs about half of what the
    default engine choice does, and on a million lines it is as fast (every table here fits in memory)."""
    return frame.collect(engine="in-memory", optimizations=_optimizations())


def collect_all(frames: list[pl.LazyFrame]) -> list[pl.DataFrame]:
    """Several plans in one call, run in parallel, each on the in-memory engine."""
    return pl.collect_all(frames, engine="in-memory", optimizations=_optimizations()) if frames else []


def key_may_repeat(keys: Sequence[str]) -> pl.Expr:
    """Whether a row's ``keys`` may be another row's too, for the fast paths of a large run that skip a grouping or a
    window where no key repeats: equal keys hash alike, so a hash seen once is a key seen once, and a repeated hash
    is a repeated key or two keys' hashes colliding, which only sends the rows down the exact path."""
    return pl.struct(*keys).hash().is_duplicated()

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

    @property
    def small(self) -> bool:
        """Whether the lines and the encounters are both within `SMALL_RUN` (a claim or a few): a rule then runs its
        plain plan or its Python screen; on a larger run it may first narrow to the rows that can fire, which costs
        more than it saves on a claim."""
        return self.lines.height <= SMALL_RUN and self.encounters.height <= SMALL_RUN

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


def encounter_rows(tables: Tables) -> pl.Series | None:
    """Each line's row in ``tables.encounters`` (null for a line whose encounter is not there), so a rule reads an
    encounter column onto the lines with a gather instead of a join on the text id: rules that each hashed the
    200,000 ids of a partition to join their encounter columns (8-14 ms each) share one lookup. None on a small run
    (a join of one claim costs less than the lookup's steps) and when an encounter id repeats, where a join gives a
    line once per encounter row and a row number cannot: the rule then joins as it always did."""
    return tables.memo("encounter_rows", _encounter_rows)


def _encounter_rows(tables: Tables) -> pl.Series | None:
    ids, line_ids = tables.encounters.get_column("encounter_id"), tables.lines.get_column("encounter_id")
    if tables.small or ids.n_unique() < ids.len():  # n_unique costs a third of is_unique().all()
        return None
    if not ids.null_count() and not line_ids.null_count():
        # Lines as a store or an audit partition holds them: each encounter's lines together, encounters in their
        # table's order, none without lines. The line's run of its encounter id is then its encounter's row (1 ms
        # on 200,000 lines, where the join costs 14).
        starts = line_ids.filter((line_ids != line_ids.shift(1)).fill_null(True))
        if starts.equals(ids):
            return line_ids.rle_id().alias("encounter_row")
    rows = tables.encounters.select("encounter_id").with_row_index("encounter_row")
    return (tables.lines.select("encounter_id").join(rows, on="encounter_id", how="left", maintain_order="left")
            .get_column("encounter_row"))


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
    # Sorted before the join, not after: the sort then moves the lines' 15 columns rather than 37, and the join keeps
    # that order. (encounter, line) is unique, so a stable sort gives the same rows, and Polars' stable multi-column
    # sort costs less than its unstable one (200,000 lines: 11 ms against 30 ms).
    return collect(lines.sort("encounter_id", "line", maintain_order=True)
                   .join(versions, on=["code", "date"], how="left", maintain_order="left"))


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
    return _history_once(pl.DataFrame(rows, schema={"source": pl.String, **HISTORY_SCHEMA}))


def _history_once(frame: pl.DataFrame) -> pl.DataFrame:
    """`_patient_history` of history rows as a frame (``source``, the encounter that listed the row, first)."""
    if frame.is_empty():
        return pl.DataFrame(schema=HISTORY_SCHEMA)
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


_S = pl.String
_ADDRESS = pl.Struct({"state": _S, "zip": _S})
# The parts of an encounter's interchange JSON (``Encounter.model_dump(mode="json")``) the rule tables read; the
# decoder skips every other key (the encounter's own lines among them: the store keeps the billed lines apart).
STORED_ENCOUNTER_JSON = pl.Struct({
    "date": _S, "payer": _S, "place_of_service": _S,
    "patient": pl.Struct({"id": _S, "birth_date": _S, "sex": _S, "first_name": _S, "last_name": _S,
                          "address": _ADDRESS}),
    "provider": pl.Struct({"npi": _S, "discipline": _S}),
    "diagnoses": pl.List(_S),
    "billing_provider": pl.Struct({"npi": _S, "tax_id": _S, "phone": _S, "address": _ADDRESS}),
    "subscriber": pl.Struct({"member_id": _S, "sex": _S}),
    "payer_id": _S, "claim_id": _S, "total_charge": pl.Float64, "note": _S,
    "plan_of_care": pl.Struct({"start": _S, "certified_through": _S}),
    "services": pl.List(pl.Struct({"code": _S, "minutes": pl.Int64, "furnished_by": _S,
                                   "assistant_minutes": pl.Int64, "group_size": pl.Int64})),
    "history": pl.List(pl.Struct({"date": _S, "code": _S, "modifiers": pl.List(_S), "units": pl.Float64,
                                  "allowed": pl.Float64, "progress_report": pl.Boolean})),
})

STORED_LINE_SCHEMA: dict[str, Any] = {
    **{name: LINE_SCHEMA[name] for name in ("encounter_id", "code", "modifiers", "units", "minutes", "dx_pointers",
                                            "charge", "date", "ndc")},
    "rendering_npi": pl.String,
    "place_of_service": pl.String,
}
"""A stored claim's billed lines as `tables_from_stored` takes them: in line order within each encounter, ``charge``
null where none was given, ``date`` null where the line has none of its own."""


def _given_or(column: str, default: str) -> pl.Expr:
    """The line's own value unless it is missing or empty (``line.x or encounter_x``), else the encounter's."""
    own = pl.col(column)
    return pl.when(own.is_not_null() & (own != "")).then(own).otherwise(pl.col(default))


def _date(expr: pl.Expr) -> pl.Expr:
    return expr.str.to_date("%Y-%m-%d")


def tables_from_stored(
    encounters: pl.DataFrame,
    lines: pl.DataFrame,
    profile: Callable[[str], PayerProfile],
    *,
    as_of: dt.date,
    book: CodeBook | None = None,
) -> Tables:
    """The rule tables of stored claims, built as columns from what the store holds: ``encounters`` has the id each
    claim has in this run (``encounter_id``) and its encounter's interchange JSON text (``data``, the
    ``Encounter.model_dump(mode="json")`` of an encounter validated on import); ``lines`` has the claims' billed
    lines (`STORED_LINE_SCHEMA`), in encounter order. ``profile`` gives each payer's profile.

    It exists because a Python object per claim (a pydantic `Encounter`, then a dict per claim and line) cost a
    batch scrub of the workspace more than the rules did: here the JSON is decoded by Polars, reading only the
    fields the rules need. The columns are exactly those of `tables_from_encounters` on the validated encounters
    (tests/store/test_scrub_tables.py holds the two to it on varied claims): keep them in step.
    """
    decoded = encounters.select(
        "encounter_id", pl.col("data").str.json_decode(STORED_ENCOUNTER_JSON).alias("data")).unnest("data")
    patient, provider = pl.col("patient").struct, pl.col("provider").struct
    billing, subscriber = pl.col("billing_provider").struct, pl.col("subscriber").struct
    plan, address = pl.col("plan_of_care").struct, pl.col("patient").struct.field("address").struct
    decoded = decoded.with_columns(
        _date(pl.col("date")),
        pl.col("payer").fill_null("medicare"),
        pl.col("place_of_service").fill_null("11"),
        pl.col("diagnoses").fill_null([]),
        patient.field("id").alias("patient_id"),
        provider.field("npi").alias("provider_npi"),
        provider.field("discipline").alias("provider_discipline"),
    )
    given = (decoded.select("encounter_id", pl.col("services")).explode("services", keep_nulls=False)
             .unnest("services").with_columns(pl.col("furnished_by").fill_null("therapist")))
    services = (
        given.select(
            "encounter_id", "code", "minutes",
            pl.when(pl.col("assistant_minutes").is_not_null()).then(pl.col("assistant_minutes"))
            .when(pl.col("furnished_by") == "assistant").then(pl.col("minutes"))
            .otherwise(0).alias("assistant_minutes"),
            "furnished_by", "group_size",
        )
    )
    # A line without minutes takes the minutes documented for its code in the encounter's services, once per code:
    # on the first line of that code (an earlier line of the code, with minutes of its own or given these, keeps
    # them from any later one).
    documented = (services.filter(pl.col("minutes").is_not_null())
                  .group_by("encounter_id", "code").agg(pl.col("minutes").sum().alias("documented")))
    claim = decoded.select("encounter_id", pl.col("date").alias("claim_date"), "payer",
                           pl.col("place_of_service").alias("claim_place"), "patient_id",
                           pl.col("provider_npi").alias("claim_npi"), "provider_discipline")
    line_frame = (
        lines.join(claim, on="encounter_id", how="left", maintain_order="left")
        .join(documented, on=["encounter_id", "code"], how="left", maintain_order="left")
        .with_columns(
            (pl.int_range(pl.len(), dtype=pl.Int32).over("encounter_id") + 1).alias("line"),
            pl.when(pl.col("minutes").is_null() & (pl.int_range(pl.len()).over("encounter_id", "code") == 0))
            .then(pl.col("documented")).otherwise(pl.col("minutes")).alias("minutes"),
            pl.coalesce("date", "claim_date").alias("date"),
            _given_or("place_of_service", "claim_place").alias("place_of_service"),
            _given_or("rendering_npi", "claim_npi").alias("provider_npi"),
            pl.col("modifiers").fill_null([]),
            pl.col("dx_pointers").fill_null([]),
        )
        .select(list(LINE_SCHEMA))
        .cast(pl.Schema(LINE_SCHEMA))
    )
    service_minutes = given.group_by("encounter_id").agg(  # the minutes as given, before the assistant default
        pl.col("assistant_minutes").fill_null(0).sum().alias("assistant_minutes"),
        pl.col("minutes").fill_null(0).sum().alias("services_minutes"),
    )
    encounter_frame = (
        decoded.join(service_minutes, on="encounter_id", how="left", maintain_order="left")
        .with_columns(
            billing.field("npi").alias("billing_npi"),
            subscriber.field("member_id").alias("subscriber_id"),
            _date(plan.field("start")).alias("plan_start"),
            _date(plan.field("certified_through")).alias("plan_certified_through"),
            # a sum of 0 is "none documented" (None), as in tables_from_encounters
            pl.col("assistant_minutes").replace(0, None),
            pl.col("services_minutes").replace(0, None),
            patient.field("first_name").alias("patient_first_name"),
            patient.field("last_name").alias("patient_last_name"),
            _date(patient.field("birth_date")).alias("patient_birth_date"),
            patient.field("sex").alias("patient_sex"),
            address.field("state").alias("patient_state"),
            address.field("zip").alias("patient_zip"),
            subscriber.field("sex").alias("subscriber_sex"),
            billing.field("tax_id").alias("billing_ein"),
            billing.field("address").struct.field("state").alias("billing_state"),
            billing.field("address").struct.field("zip").alias("billing_zip"),
            billing.field("phone").alias("billing_phone"),
        )
        .select(list(ENCOUNTER_SCHEMA))
        .cast(pl.Schema(ENCOUNTER_SCHEMA))
    )
    history = (
        decoded.select(pl.col("encounter_id").alias("source"), "patient_id", "history")
        .explode("history", keep_nulls=False).unnest("history")
        .with_columns(
            pl.lit(None, dtype=pl.String).alias("encounter_id"),
            _date(pl.col("date")),
            pl.col("modifiers").fill_null([]),
            pl.col("units").fill_null(1.0),
            pl.col("progress_report").fill_null(False),
        )
        .select("source", *HISTORY_SCHEMA)
        .cast(pl.Schema({"source": pl.String, **HISTORY_SCHEMA}))
    )
    payers = {payer: profile(payer) for payer in decoded.get_column("payer").unique(maintain_order=True).to_list()}
    return Tables(
        lines=line_frame,
        encounters=encounter_frame,
        services=services.cast(pl.Schema(SERVICE_SCHEMA)),
        history=_history_once(history),
        payers=payers,
        as_of=as_of,
        book=book or codebook(),
    )
