"""ICD-10-CM diagnosis codes: shape, billable or header, and which yearly release decides, by date of service.

A claim's diagnosis must be valid *on the date of service*: ICD-10-CM changes every October 1 (and
sometimes on April 1), and a header code such as M62 or E11 is never billable because it needs more
characters. So every lookup takes a date, picks the release in force on it, and says plainly when no loaded
release covers that date instead of passing the code silently.

Releases come from two places:

* bundled: ``cleanclaim/codebook/icd10cm/*.tsv.gz`` with a ``.meta.json`` sidecar each, built by
  ``scripts/build_icd10cm_table.py``: FY2026 (April 1, 2026 update, via simple-icd-10-cm 1.5.0) in full, and
  FY2021-FY2025 as deltas against it (FY2021 and FY2025 from older simple-icd-10-cm wheels, FY2022-FY2024 from
  CMS's order files), so every date of service from 2020-10-01 to 2026-09-30 has its own fiscal year's release;
* imported: the order file CMS/CDC publish each year (``icd10cm_order_YYYY.txt``, or the zip holding it),
  turned by :func:`import_order_file` into Parquet under ``paths.data_dir()/icd10cm/``.

The order file is fixed width (CMS "ICD-10-CM and ICD-10-PCS order file" layout, as restated in
github.com/danielll-w/easy-icd-10-code-to-description README.md and used by OHDSI/Vocabulary-v5.0
ICD10CM/icd10cm.ctl): columns 1-5 order number (right justified, zero filled), 6 blank, 7-13 code without
the dot, 14 blank, 15 ``0`` for a header not valid for HIPAA-covered transactions or ``1`` for a valid
code, 16 blank, 17-76 short description, 77 blank, 78 to the end of the line the long description.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import itertools
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from cleanclaim import paths
from cleanclaim.caching import cache_built_once
from cleanclaim.errors import DataError, InputError
from cleanclaim.refdata.imported import CorruptImportError

__all__ = [
    "DiagnosisLookup",
    "DiagnosisStatus",
    "ReleaseInfo",
    "classify_diagnoses",
    "diagnosis_frame",
    "fiscal_year_of",
    "format_diagnosis",
    "import_order_file",
    "is_diagnosis_format",
    "lookup_diagnosis",
    "normalize_diagnosis",
    "normalized_diagnosis_expr",
    "release_for",
    "releases",
    "releases_for",
]

_BUNDLED_PACKAGE = "cleanclaim.codebook"
_BUNDLED_FOLDER = "icd10cm"
_IMPORT_FOLDER = "icd10cm"
_META_PREFIX = "cleanclaim."

# Letter, then two alphanumerics (a digit in all but a handful: the FY2026 tabular has category QA0), then
# up to four alphanumerics after the dot. Shape only: whether the code exists is the release's business.
_SHAPE = re.compile(r"^[A-Z][0-9A-Z][0-9A-Z](?:[0-9A-Z]{1,4})?$")
_YEAR_IN_NAME = re.compile(r"(?<!\d)(20\d\d)(?!\d)")
_ORDER_MEMBER = re.compile(r"icd10cm[-_ ]?order[-_ ].*\.txt$", re.IGNORECASE)
_ORDER_LINE_MIN = 78


class DiagnosisStatus(StrEnum):
    BILLABLE = "billable"
    NOT_BILLABLE = "not_billable"
    """A category or subcategory header: it needs more characters before it can go on a claim."""
    UNKNOWN = "unknown"
    INVALID_FORMAT = "invalid_format"


@dataclass(frozen=True, slots=True)
class ReleaseInfo:
    """One ICD-10-CM release cleanclaim can look codes up in, and the dates of service it answers for."""

    name: str
    """What findings cite: "ICD-10-CM FY2027", or "ICD-10-CM FY2026 April update" for a mid-year file."""
    fiscal_year: int
    valid_from: dt.date
    valid_to: dt.date
    """Last date of service (inclusive) the release answers for: September 30 of its fiscal year."""
    data_effective: dt.date
    """When the file's content took effect: October 1, or April 1 for a mid-year update."""
    update: str
    bundled: bool
    source: str
    source_file: str
    path: str
    """Where the table is stored (package resource or Parquet file)."""
    created: str
    """Build date (bundled) or import time in UTC (imported), ISO 8601."""
    codes: int
    billable: int
    licence: str
    base: str | None = None
    """For a bundled delta release: the full table it is stored against (``path`` then holds only the codes
    added, removed or changed relative to it, which keeps older fiscal years to a few KB each)."""
    update_changed_codes: bool = True
    """For a mid-year update: whether it added, deleted or revised any code against the year's October 1 file. When
    it did not (CDC's April 2025 order addenda list no change), the file answers for the months before it took effect
    without a caveat. Unknown (imported files, sidecars without the field) counts as True."""

    def covers(self, date_of_service: dt.date) -> bool:
        return self.valid_from <= date_of_service <= self.valid_to


@dataclass(frozen=True, slots=True)
class DiagnosisLookup:
    """The answer to "is this diagnosis billable on this date?", with the release that answered it."""

    code: str
    """Normalised (no dot, upper case); the input as given when its shape is invalid."""
    date_of_service: dt.date
    status: DiagnosisStatus
    description: str | None
    short_description: str | None
    release: str
    release_info: ReleaseInfo
    covers_date: bool
    """False when no loaded release covers the date of service and the nearest one answered instead."""
    note: str | None
    billable_children: int | None = None
    """For a header: how many billable codes start with it."""
    example_child: str | None = None
    """For a header: one billable code under it, dotted, for the message."""

    @property
    def billable(self) -> bool:
        return self.status is DiagnosisStatus.BILLABLE

    @property
    def display(self) -> str:
        return format_diagnosis(self.code) if is_diagnosis_format(self.code) else self.code


# ------------------------------------------------------------------------------------------------------------
# Code shape


def normalize_diagnosis(code: str) -> str:
    """Upper case, no whitespace, no dot after the third character ("m62.81 " -> "M6281").

    A dot anywhere else is kept so the shape check rejects it rather than guessing what was meant.
    """
    compact = "".join(code.split()).upper()
    if len(compact) >= 4 and compact[3] == "." and compact.count(".") == 1:
        return compact[:3] + compact[4:]
    return compact


def is_diagnosis_format(code: str) -> bool:
    """True when the code (either form) has ICD-10-CM's shape; says nothing about whether it exists."""
    return bool(_SHAPE.match(normalize_diagnosis(code)))


def format_diagnosis(code: str) -> str:
    """The dotted display form ("M6281" -> "M62.81"); three-character categories have no dot."""
    normal = normalize_diagnosis(code)
    return normal if len(normal) <= 3 else f"{normal[:3]}.{normal[3:]}"


def fiscal_year_of(date_of_service: dt.date) -> int:
    """The federal fiscal year a date falls in (October 1 starts the next year's)."""
    return date_of_service.year + 1 if date_of_service.month >= 10 else date_of_service.year


# ------------------------------------------------------------------------------------------------------------
# Releases


def _date(text: object, where: str, key: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(text))
    except ValueError as exc:
        raise DataError(f"{where}: {key} {text!r} is not a date (YYYY-MM-DD)") from exc


def _release_from_meta(meta: Mapping[str, object], *, where: str, path: str, bundled: bool) -> ReleaseInfo:
    try:
        return ReleaseInfo(
            name=str(meta["name"]),
            fiscal_year=int(str(meta["fiscal_year"])),
            valid_from=_date(meta["valid_from"], where, "valid_from"),
            valid_to=_date(meta["valid_to"], where, "valid_to"),
            data_effective=_date(meta["data_effective"], where, "data_effective"),
            update=str(meta.get("update", "")),
            bundled=bundled,
            source=str(meta["source"]),
            source_file=str(meta.get("source_file") or meta.get("data_file") or ""),
            path=path,
            created=str(meta.get("built") or meta.get("imported_at") or ""),
            codes=int(str(meta["codes"])),
            billable=int(str(meta["billable"])),
            licence=str(meta["licence"]),
            base=str(meta["base"]) if meta.get("base") else None,
            update_changed_codes=meta.get("update_changed_codes", True) not in (False, "false"),
        )
    except (KeyError, ValueError) as exc:
        raise DataError(f"{where}: release metadata is incomplete or malformed ({exc})") from exc


@cache
def _bundled_releases() -> tuple[ReleaseInfo, ...]:
    folder = resources.files(_BUNDLED_PACKAGE).joinpath(_BUNDLED_FOLDER)
    found: list[ReleaseInfo] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".meta.json"):
            continue
        where = f"cleanclaim/codebook/icd10cm/{entry.name}"
        try:
            meta = json.loads(entry.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise DataError(f"{where}: not valid JSON ({exc})") from exc
        data_file = str(meta.get("data_file", ""))
        for key, name in (("data_file", data_file), ("base", str(meta.get("base") or ""))):
            if (key == "data_file" or name) and not folder.joinpath(name).is_file():
                raise DataError(f"{where}: names {key} {name!r}, which is not in the package")
        found.append(_release_from_meta(meta, where=where, path=data_file, bundled=True))
    if not found:
        raise DataError("no bundled ICD-10-CM release in cleanclaim/codebook/icd10cm (packaging problem)")
    return tuple(found)


def _import_dir(data_dir: Path | None) -> Path:
    return (data_dir if data_dir is not None else paths.data_dir()) / _IMPORT_FOLDER


@cache
def _imported_releases(folder: str) -> tuple[ReleaseInfo, ...]:
    directory = Path(folder)
    if not directory.is_dir():
        return ()
    found: list[ReleaseInfo] = []
    for parquet in sorted(directory.glob("*.parquet")):
        try:
            raw = pq.read_schema(parquet).metadata or {}
            meta = {
                key.decode()[len(_META_PREFIX):]: value.decode()
                for key, value in raw.items()
                if key.decode().startswith(_META_PREFIX)
            }
            found.append(_release_from_meta(meta, where=str(parquet), path=str(parquet), bundled=False))
        except (OSError, pa.ArrowException, UnicodeDecodeError) as exc:
            raise CorruptImportError(parquet, "ICD-10-CM release", f"not a readable Parquet file ({exc})") from exc
        except DataError as exc:  # a damaged import is the user's to fix (exit 2), not a packaging problem
            raise CorruptImportError(parquet, "ICD-10-CM release", str(exc).removeprefix(f"{parquet}: ")) from exc
    return tuple(found)


def releases(data_dir: Path | None = None) -> list[ReleaseInfo]:
    """Every release lookups can use (bundled and imported), oldest first; for ``cleanclaim data status``.

    The import folder is read once per process (and again after :func:`import_order_file`).
    """
    found = [*_bundled_releases(), *_imported_releases(str(_import_dir(data_dir)))]
    return sorted(found, key=lambda r: (r.valid_from, r.data_effective, not r.bundled, r.created))


def _preference(release: ReleaseInfo, date_of_service: dt.date) -> tuple[bool, int, bool, str]:
    """Among releases covering a date: the latest file in effect, then imported over bundled, then newest.

    A file not yet in effect on the date (the April update, for a January date) only answers when nothing else
    covers the date.
    """
    in_effect = release.data_effective <= date_of_service
    ordinal = release.data_effective.toordinal()
    return (in_effect, ordinal if in_effect else -ordinal, not release.bundled, release.created)


def _distance(release: ReleaseInfo, date_of_service: dt.date) -> int:
    if date_of_service < release.valid_from:
        return (release.valid_from - date_of_service).days
    return max(0, (date_of_service - release.valid_to).days)


def _choose(candidates: Sequence[ReleaseInfo], date_of_service: dt.date) -> tuple[ReleaseInfo, bool]:
    """The release that judges a date: the one covering it; else, for a date between two loaded releases (a fiscal
    year missing between them: none is missing among the bundled FY2021-FY2026, but an imported release can stand
    apart from them), the next one after it; else the nearest.

    Why the next one in a gap: the common stale-code error is a code that was deleted or split on some October 1
    (M54.5 became a header on 2021-10-01) and billed after it; a deletion persists into every later release, so the
    next release catches it, where the previous one would pass it. The cost is the reverse case (a code valid in the
    gap year and deleted before the next release is reported), and the finding says no release covers the date.
    """
    covering = [r for r in candidates if r.covers(date_of_service)]
    if covering:
        return max(covering, key=lambda r: _preference(r, date_of_service)), True
    before = [r for r in candidates if r.valid_to < date_of_service]
    after = [r for r in candidates if r.valid_from > date_of_service]
    if before and after:
        return min(after, key=lambda r: (r.valid_from, -r.data_effective.toordinal())), False
    nearest = min(candidates, key=lambda r: (_distance(r, date_of_service), -r.valid_to.toordinal()))
    return nearest, False


def release_for(date_of_service: dt.date, data_dir: Path | None = None) -> tuple[ReleaseInfo, bool]:
    """The release that judges a date of service, and whether it covers the date (else it is the nearest): the
    choice every lookup and :func:`classify_diagnoses` make."""
    return _choose(releases(data_dir), date_of_service)


def releases_for(dates: Iterable[dt.date], data_dir: Path | None = None) -> dict[dt.date, tuple[ReleaseInfo, bool]]:
    """:func:`release_for` of many dates, the releases listed once (a batch's few dozen dates each listed and sorted
    them again: ~4 ms per 200,000 lines)."""
    available = releases(data_dir)
    return {day: _choose(available, day) for day in dates}


def _coverage_note(release: ReleaseInfo, date_of_service: dt.date, covers: bool) -> str | None:
    year = fiscal_year_of(date_of_service)
    if not covers:
        return (
            f"No loaded ICD-10-CM release covers {date_of_service} (fiscal year {year}); checked against "
            f"{release.name} instead, which covers {release.valid_from} to {release.valid_to}. Import the "
            f"FY{year} order file from CMS to check this date properly."
        )
    if date_of_service < release.data_effective and release.update_changed_codes:
        return (
            f"{release.name} is the {release.update or 'update'} effective {release.data_effective}; a "
            f"code added on that date is not told apart for {date_of_service}."
        )
    return None


# ------------------------------------------------------------------------------------------------------------
# Tables


_TABLE_SCHEMA = {
    "code": pl.String,
    "billable": pl.Boolean,
    "short_description": pl.String,
    "description": pl.String,
}


@dataclass(frozen=True, slots=True)
class _Table:
    frame: pl.DataFrame
    by_code: dict[str, tuple[bool, str | None, str]]
    billable_codes: list[str]
    """Sorted, so the billable codes under a header are one contiguous slice."""


def _read_tsv(name: str, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    data = resources.files(_BUNDLED_PACKAGE).joinpath(_BUNDLED_FOLDER, name).read_bytes()
    try:
        return pl.read_csv(data, separator="\t", quote_char=None, schema=schema)
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"cleanclaim/codebook/icd10cm/{name}: unreadable ({exc})") from exc


_FULL_SCHEMA: dict[str, pl.DataType] = {"code": pl.String(), "billable": pl.Int8(), "description": pl.String()}
_DELTA_SCHEMA: dict[str, pl.DataType] = {"code": pl.String(), "change": pl.String(), "billable": pl.Int8(),
                                         "description": pl.String()}
_DELTA_CHANGES = ("added", "removed", "changed")


def _read_bundled(release: ReleaseInfo) -> pl.DataFrame:
    if release.base is None:
        frame = _read_tsv(release.path, _FULL_SCHEMA)
    else:
        # A delta release: the base table less the codes the delta removes or changes, plus those it adds or
        # changes (scripts/build_icd10cm_table.py writes it).
        delta = _read_tsv(release.path, _DELTA_SCHEMA)
        bad = delta.filter(~pl.col("change").is_in(_DELTA_CHANGES))
        if bad.height:
            raise DataError(f"cleanclaim/codebook/icd10cm/{release.path}: change {bad['change'][0]!r} for code "
                            f"{bad['code'][0]} is not one of {', '.join(_DELTA_CHANGES)}")
        base = _read_tsv(release.base, _FULL_SCHEMA)
        frame = pl.concat([
            base.filter(~pl.col("code").is_in(delta["code"].implode())),
            delta.filter(pl.col("change") != "removed").drop("change"),
        ])
    return frame.select(
        "code",
        pl.col("billable") == 1,
        pl.lit(None, dtype=pl.String).alias("short_description"),
        "description",
    )


def _read_imported(release: ReleaseInfo) -> pl.DataFrame:
    try:
        return pl.read_parquet(release.path).select(list(_TABLE_SCHEMA))
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise CorruptImportError(Path(release.path), "ICD-10-CM release",
                                 f"not a readable ICD-10-CM table ({exc})") from exc


@cache_built_once
def _table(release: ReleaseInfo) -> _Table:
    """A release's table, built once per process whichever thread asks first (an audit checks partitions in threads,
    and two of them reaching their first diagnosis at once each built the same table: ~0.1 s of CPU, twice)."""
    frame = _read_bundled(release) if release.bundled else _read_imported(release)
    codes = frame["code"].to_list()
    rows = zip(
        frame["billable"].to_list(),
        frame["short_description"].to_list(),
        frame["description"].to_list(),
        strict=True,
    )
    by_code = dict(zip(codes, rows, strict=True))
    billable_codes = sorted(frame.filter(pl.col("billable"))["code"].to_list())
    return _Table(frame=frame, by_code=by_code, billable_codes=billable_codes)


def _children(table: _Table, header: str) -> tuple[int, str | None]:
    start = bisect.bisect_left(table.billable_codes, header)
    # "~" sorts after every digit and capital letter, so this is the end of the codes starting with the
    # header.
    end = bisect.bisect_left(table.billable_codes, header + "~")
    return end - start, (format_diagnosis(table.billable_codes[start]) if end > start else None)


# ------------------------------------------------------------------------------------------------------------
# Lookups


def lookup_diagnosis(code: str, date_of_service: dt.date, *, data_dir: Path | None = None) -> DiagnosisLookup:
    """Look a diagnosis up in the release in force on the date of service (bundled or imported)."""
    available = releases(data_dir)
    release, covers = _choose(available, date_of_service)
    note = _coverage_note(release, date_of_service, covers)
    normal = normalize_diagnosis(code)

    def answer(
        status: DiagnosisStatus,
        *,
        code: str = normal,
        entry: tuple[bool, str | None, str] | None = None,
        extra: str | None = None,
        children: tuple[int, str | None] = (0, None),
    ) -> DiagnosisLookup:
        header = status is DiagnosisStatus.NOT_BILLABLE
        return DiagnosisLookup(
            code=code,
            date_of_service=date_of_service,
            status=status,
            description=entry[2] if entry else None,
            short_description=entry[1] if entry else None,
            release=release.name,
            release_info=release,
            covers_date=covers,
            note=_join(note, extra),
            billable_children=children[0] if header else None,
            example_child=children[1] if header else None,
        )

    status, entry, children = _classified(normal, release)
    if status is DiagnosisStatus.INVALID_FORMAT:
        return answer(status, code=code.strip())
    if status is DiagnosisStatus.UNKNOWN:
        return answer(status, extra=_found_elsewhere(normal, release, available))
    return answer(status, entry=entry, children=children or (0, None))


_Entry = tuple[bool, str | None, str]  # billable, short description, description
_Children = tuple[int, str | None]  # how many billable codes start with a header, and the first of them (dotted)


def _classified(normal: str, release: ReleaseInfo) -> tuple[DiagnosisStatus, _Entry | None, _Children | None]:
    """One normalised code in one release: its status, its entry (None when it has none) and, for a header, how many
    billable codes start with it and the first of them. The single answer behind :func:`lookup_diagnosis` and the
    row path of :func:`classify_diagnoses`."""
    if not _SHAPE.match(normal):
        return DiagnosisStatus.INVALID_FORMAT, None, None
    table = _table(release)
    entry = table.by_code.get(normal)
    if entry is None:
        return DiagnosisStatus.UNKNOWN, None, None
    if entry[0]:
        return DiagnosisStatus.BILLABLE, entry, None
    return DiagnosisStatus.NOT_BILLABLE, entry, _children(table, normal)


def _join(*notes: str | None) -> str | None:
    present = [n for n in notes if n]
    return " ".join(present) if present else None


def _found_elsewhere(code: str, used: ReleaseInfo, available: Sequence[ReleaseInfo]) -> str | None:
    """Name the other releases that do have the code (a deleted or not-yet-valid code, not a typo), with the dates
    of service each answers for. Releases next to each other in date order are named as one run ("ICD-10-CM FY2022
    April update to ICD-10-CM FY2026 April update (2022-04-01 to 2026-09-30)"), since with every fiscal year bundled a
    code is usually in a long row of them."""
    spans: dict[ReleaseInfo, tuple[dt.date, dt.date]] = {}
    order: list[ReleaseInfo] = []
    for release, start, end in _segments(available):
        if release not in spans:
            order.append(release)
        first, last = spans.get(release, (start, end))
        spans[release] = (min(first, start), max(last, end))
    # a release that answers for no date (an imported file shadowing a bundled one) is still named, with its window
    order += [r for r in available if r not in spans]
    runs: list[list[ReleaseInfo]] = []
    previous: ReleaseInfo | None = None
    for release in order:
        if release != used and _has_code(release, code):
            if runs and previous is runs[-1][-1]:
                runs[-1].append(release)
            else:
                runs.append([release])
        previous = release
    if not runs:
        return None

    def named(run: list[ReleaseInfo]) -> str:
        start = spans.get(run[0], (run[0].valid_from, run[0].valid_to))[0]
        end = spans.get(run[-1], (run[-1].valid_from, run[-1].valid_to))[1]
        names = run[0].name if len(run) == 1 else f"{run[0].name} to {run[-1].name}"
        return f"{names} ({start} to {end})"

    return f"{format_diagnosis(code)} is not in {used.name} but is in {', '.join(named(run) for run in runs)}."


@cache
def _delta_changes(name: str) -> dict[str, str]:
    """A bundled delta's codes and their change (added, removed, changed): a few thousand rows, read without
    building the release's whole table."""
    delta = _read_tsv(name, _DELTA_SCHEMA)
    return dict(zip(delta["code"].to_list(), delta["change"].to_list(), strict=True))


def _has_code(release: ReleaseInfo, code: str) -> bool:
    """Whether a release lists the code (billable or header). For a bundled delta this reads the delta and the base
    table only, so naming the other releases that have an unknown code does not build every release's table."""
    if release.bundled and release.base is not None:
        change = _delta_changes(release.path).get(code)
        if change is not None:
            return change != "removed"
        base = next((r for r in _bundled_releases() if r.base is None and r.path == release.base), None)
        if base is not None:
            return code in _table(base).by_code
    return code in _table(release).by_code


def _segments(available: Sequence[ReleaseInfo]) -> list[tuple[ReleaseInfo, dt.date, dt.date]]:
    """Split the covered dates into runs answered by one release each, so a date matches exactly one row."""
    one_day = dt.timedelta(days=1)
    cuts = sorted({d for r in available for d in (r.valid_from, r.data_effective, r.valid_to + one_day)})
    runs: list[tuple[ReleaseInfo, dt.date, dt.date]] = []
    for start, stop in itertools.pairwise(cuts):
        covering = [r for r in available if r.covers(start)]
        if not covering:
            continue
        chosen = max(covering, key=lambda r: _preference(r, start))
        end = stop - dt.timedelta(1)
        if runs and runs[-1][0] == chosen and runs[-1][2] + dt.timedelta(1) == start:
            runs[-1] = (chosen, runs[-1][1], end)
        else:
            runs.append((chosen, start, end))
    return runs


def diagnosis_frame(data_dir: Path | None = None) -> pl.DataFrame:
    """Every code of every loaded release with the dates of service it answers for, for rules to join against.

    Columns: ``code`` (no dot), ``billable``, ``description``, ``release``, ``fiscal_year``, ``valid_from``,
    ``valid_to`` (inclusive). The date ranges of different releases never overlap, so joining on ``code``
    and filtering ``valid_from <= date <= valid_to`` gives at most one row per claim diagnosis; a code with
    no row for its date is unknown on that date, or the date is outside every loaded release
    (:func:`classify_diagnoses` tells the two apart and picks the nearest release, as lookups do).
    """
    return _frame_for(tuple(releases(data_dir)))


@cache_built_once
def _frame_for(available: tuple[ReleaseInfo, ...]) -> pl.DataFrame:
    parts = [
        _table(release).frame.select(
            "code",
            "billable",
            "description",
            pl.lit(release.name).alias("release"),
            pl.lit(release.fiscal_year, dtype=pl.Int32).alias("fiscal_year"),
            pl.lit(start, dtype=pl.Date).alias("valid_from"),
            pl.lit(end, dtype=pl.Date).alias("valid_to"),
        )
        for release, start, end in _segments(available)
    ]
    return pl.concat(parts, how="vertical")


def normalized_diagnosis_expr(column: str) -> pl.Expr:
    """:func:`normalize_diagnosis` as a Polars expression, for whole columns of claim diagnoses."""
    compact = pl.col(column).str.replace_all(r"\s", "").str.to_uppercase()
    dot_after_category = (compact.str.slice(3, 1) == ".") & (compact.str.count_matches(r"\.", literal=False) == 1)
    return pl.when(dot_after_category).then(compact.str.slice(0, 3) + compact.str.slice(4)).otherwise(compact)


def classify_diagnoses(
    frame: pl.DataFrame,
    *,
    code: str = "diagnosis",
    date: str = "date",
    data_dir: Path | None = None,
) -> pl.DataFrame:
    """:func:`lookup_diagnosis` for a whole table: one answer per row, by each row's date of service.

    Adds ``dx_code`` (normalised), ``dx_status`` (a :class:`DiagnosisStatus` value), ``dx_description``,
    ``dx_example_child`` (dotted, for headers), ``dx_billable_children`` (how many billable codes a header has),
    ``dx_release``, ``dx_covers_date`` and ``dx_release_note`` (why the release may not fit the date). Rows with no
    code or no date get nulls, never a guess. The release is chosen once per distinct date and the header examples
    once per distinct header, not per row.
    """
    available = releases(data_dir)
    if frame.height <= CLASSIFY_IN_PYTHON_UP_TO:
        return _classify_rows(frame, code, date, available)
    dates = frame.get_column(date).cast(pl.Date).unique().drop_nulls().to_list()
    picks = [(d, *_choose(available, d)) for d in dates]
    by_date = pl.LazyFrame(
        {
            "__date": dates,
            "__release": [available.index(r) for _, r, _ in picks],
            "dx_release": [r.name for _, r, _ in picks],
            "dx_covers_date": [covers for _, _, covers in picks],
            "dx_release_note": [_coverage_note(r, d, covers) for d, r, covers in picks],
        },
        schema={"__date": pl.Date, "__release": pl.Int32, "dx_release": pl.String, "dx_covers_date": pl.Boolean,
                "dx_release_note": pl.String},
    )
    base = (
        frame.lazy()
        .with_columns(normalized_diagnosis_expr(code).alias("dx_code"), pl.col(date).cast(pl.Date).alias("__date"))
        .join(by_date, on="__date", how="left", maintain_order="left")
        .collect(engine="in-memory")
    )
    # Each release's codes are sorted once; rows find theirs by binary search. A hash join would hash the whole
    # release (98,000 codes, ~5 ms) for every claim checked; the search costs microseconds for one claim and stays
    # vectorised for a million rows.
    wanted = base.get_column("dx_code").fill_null("")
    release = base.get_column("__release")
    billable = pl.Series("__billable", [None] * base.height, dtype=pl.Boolean)
    description = pl.Series("dx_description", [None] * base.height, dtype=pl.String)
    for index in sorted({available.index(r) for _, r, _ in picks}):
        table = _release_codes(available[index])
        if table.height == 0:
            continue
        position = table.get_column("code").search_sorted(wanted).clip(upper_bound=table.height - 1)
        found = (table.get_column("code").gather(position) == wanted) & (release == index).fill_null(False)
        billable = billable.zip_with(~found, table.get_column("billable").gather(position))
        description = description.zip_with(~found, table.get_column("description").gather(position))
    status = (
        pl.when(pl.col("dx_code").is_null() | pl.col("__release").is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(~pl.col("dx_code").str.contains(_SHAPE.pattern))
        .then(pl.lit(DiagnosisStatus.INVALID_FORMAT.value))
        .when(pl.col("__billable").is_null())
        .then(pl.lit(DiagnosisStatus.UNKNOWN.value))
        .when(pl.col("__billable"))
        .then(pl.lit(DiagnosisStatus.BILLABLE.value))
        .otherwise(pl.lit(DiagnosisStatus.NOT_BILLABLE.value))
    )
    joined = base.with_columns(billable, description).with_columns(status.alias("dx_status")).with_columns(
        pl.when(pl.col("dx_status") == DiagnosisStatus.INVALID_FORMAT.value)
        .then(pl.lit(None, dtype=pl.String)).otherwise(pl.col("dx_description")).alias("dx_description"))
    header = joined.get_column("dx_status") == DiagnosisStatus.NOT_BILLABLE.value
    if not header.any():
        joined = joined.with_columns(pl.lit(None, dtype=pl.String).alias("dx_example_child"),
                                     pl.lit(None, dtype=pl.Int64).alias("dx_billable_children"))
    else:
        # A header's example child needs the release's sorted code list: a lookup per distinct header (a handful).
        headers = joined.filter(header).select("dx_code", "__release").unique()
        children = [_children(_table(available[index]), code) for code, index in headers.iter_rows()]
        examples = pl.DataFrame(
            {
                "dx_code": headers["dx_code"].to_list(),
                "__release": headers["__release"].to_list(),
                "dx_example_child": [example for _, example in children],
                "dx_billable_children": [count for count, _ in children],
            },
            schema={"dx_code": pl.String, "__release": pl.Int32, "dx_example_child": pl.String,
                    "dx_billable_children": pl.Int64},
        )
        joined = joined.join(examples, on=["dx_code", "__release"], how="left", maintain_order="left")
    return joined.drop("__date", "__release", "__billable")


CLASSIFY_IN_PYTHON_UP_TO = 500
"""Up to this many rows, :func:`classify_diagnoses` answers row by row from the release's code dictionary: a claim's
few diagnoses cost microseconds that way, against ~3 ms for the dozen Polars operations of the column-wise path
(whose cost per operation is fixed, whatever the rows). Both paths give the same table
(``tests/diagnoses/test_import.py`` compares them)."""

_CLASSIFIED_SCHEMA: dict[str, pl.DataType] = {
    "dx_code": pl.String(), "dx_release": pl.String(), "dx_covers_date": pl.Boolean(), "dx_release_note": pl.String(),
    "dx_description": pl.String(), "dx_status": pl.String(), "dx_example_child": pl.String(),
    "dx_billable_children": pl.Int64(),
}


def _classify_rows(frame: pl.DataFrame, code: str, date: str, available: list[ReleaseInfo]) -> pl.DataFrame:
    """The row-by-row path of :func:`classify_diagnoses` for small tables (same columns, same answers)."""
    releases_by_date: dict[dt.date, tuple[ReleaseInfo, bool, str | None]] = {}
    answers: dict[tuple[str, ReleaseInfo], tuple[str, str | None, str | None, int | None]] = {}
    columns: dict[str, list[Any]] = {name: [] for name in _CLASSIFIED_SCHEMA}
    for raw, day in zip(frame.get_column(code).to_list(), frame.get_column(date).cast(pl.Date).to_list(), strict=True):
        normal = None if raw is None else normalize_diagnosis(raw)
        pick = None
        if day is not None:
            pick = releases_by_date.get(day)
            if pick is None:
                release, covers = _choose(available, day)
                pick = releases_by_date[day] = (release, covers, _coverage_note(release, day, covers))
        status = description = example = None
        children: int | None = None
        if normal is not None and pick is not None:
            key = (normal, pick[0])
            if key not in answers:
                answers[key] = _answer_row(normal, pick[0])
            status, description, example, children = answers[key]
        columns["dx_code"].append(normal)
        columns["dx_release"].append(pick[0].name if pick else None)
        columns["dx_covers_date"].append(pick[1] if pick else None)
        columns["dx_release_note"].append(pick[2] if pick else None)
        columns["dx_description"].append(description)
        columns["dx_status"].append(status)
        columns["dx_example_child"].append(example)
        columns["dx_billable_children"].append(children)
    added = pl.DataFrame(columns, schema=_CLASSIFIED_SCHEMA)
    return frame.drop([name for name in _CLASSIFIED_SCHEMA if name in frame.columns]).hstack(added)


def _answer_row(normal: str, release: ReleaseInfo) -> tuple[str, str | None, str | None, int | None]:
    """Status, description, example child and billable-children count of one normalised code in one release, as the
    columns of :func:`classify_diagnoses` hold them."""
    status, entry, children = _classified(normal, release)
    count, example = children if children is not None else (None, None)
    return status.value, entry[2] if entry else None, example, count


@cache_built_once
def _release_codes(release: ReleaseInfo) -> pl.DataFrame:
    """A release's codes, billable flags and descriptions sorted by code (once per release, whichever thread asks
    first), for binary search."""
    return _table(release).frame.select("code", "billable", "description").sort("code")


# ------------------------------------------------------------------------------------------------------------
# Importing a CMS order file


def _read_order_source(path: Path) -> tuple[str, bytes]:
    """The order file's display name and bytes, from the .txt itself or from the CMS zip that holds it."""
    if not path.is_file():
        raise InputError("file not found", file=str(path))
    if not zipfile.is_zipfile(path):
        return path.name, path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        # The zip also holds the addenda (changes since last year) in the same layout: not a full release.
        members = [
            m
            for m in archive.namelist()
            if _ORDER_MEMBER.search(m.rsplit("/", 1)[-1]) and "addenda" not in m.lower()
        ]
        if len(members) != 1:
            found = ", ".join(members) or "none"
            raise InputError(
                "expected exactly one ICD-10-CM order file (icd10cm_order_YYYY.txt) in the zip, "
                f"found {found}",
                file=str(path),
            )
        return f"{path.name}!{members[0]}", archive.read(members[0])


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        # Older CMS text files are Windows-1252; accept them rather than mangle a title.
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise InputError(f"not a text file (byte {exc.start} is neither UTF-8 nor Windows-1252)",
                         file=source) from exc


def _fiscal_year_from_name(name: str) -> int | None:
    years = _YEAR_IN_NAME.findall(name.rsplit("!", 1)[-1]) or _YEAR_IN_NAME.findall(name)
    return int(years[-1]) if years else None


def _parse_order_lines(text: str, source: str) -> pl.DataFrame:
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise InputError("the order file is empty", file=source)
    raw = pl.DataFrame({"line": [line.rstrip("\r") for line in lines]}).with_row_index("row", offset=1)
    line = pl.col("line")
    parsed = raw.with_columns(
        line.str.len_chars().alias("length"),
        line.str.slice(0, 5).alias("order"),
        line.str.slice(6, 7).str.strip_chars_end(" ").alias("code"),
        line.str.slice(14, 1).alias("flag"),
        line.str.slice(16, 60).str.strip_chars(" ").alias("short_description"),
        line.str.slice(77).str.strip_chars(" ").alias("description"),
        (line.str.slice(5, 1) + line.str.slice(13, 1) + line.str.slice(15, 1) + line.str.slice(76, 1))
        .alias("blanks"),
    ).with_columns(pl.col("row").first().over("code").alias("first_row"))
    problem = (
        pl.when(pl.col("length") < _ORDER_LINE_MIN)
        .then(pl.format("line has {} characters; the order file layout needs at least 78 (order number, "
                        "code, flag, short description, long description)", pl.col("length")))
        .when(~pl.col("order").str.contains(r"^\d{5}$"))
        .then(pl.format("columns 1-5 should be the order number (five digits), found '{}'", pl.col("order")))
        .when(pl.col("blanks") != "    ")
        .then(pl.lit("columns 6, 14, 16 and 77 should be blank; the line is not in the fixed-width layout"))
        .when(~pl.col("code").str.contains(_SHAPE.pattern))
        .then(pl.format("columns 7-13 should be an ICD-10-CM code without the dot, found '{}'",
                        pl.col("code")))
        .when(~pl.col("flag").is_in(["0", "1"]))
        .then(pl.format("column 15 should be 0 (header) or 1 (billable), found '{}'", pl.col("flag")))
        .when(pl.col("short_description") == "")
        .then(pl.lit("columns 17-76 (short description) are empty"))
        .when(pl.col("description") == "")
        .then(pl.lit("the long description (column 78 on) is empty"))
        .when(pl.col("first_row") != pl.col("row"))
        .then(pl.format("code {} appears again (first on row {})", pl.col("code"), pl.col("first_row")))
    )
    bad = parsed.select("row", problem.alias("problem")).filter(pl.col("problem").is_not_null()).head(1)
    if bad.height:
        raise InputError(str(bad["problem"][0]), file=source, row=int(bad["row"][0]))
    return parsed.select(
        "code",
        (pl.col("flag") == "1").alias("billable"),
        "short_description",
        "description",
        pl.col("order").cast(pl.Int32),
    )


def import_order_file(
    path: Path | str,
    data_dir: Path | None = None,
    *,
    fiscal_year: int | None = None,
    effective: dt.date | None = None,
) -> ReleaseInfo:
    """Import a CMS/CDC ICD-10-CM order file (or the zip holding it) as a release lookups will use.

    The fiscal year comes from ``fiscal_year`` or the file name (``icd10cm_order_2027.txt`` is FY2027).
    The file takes effect October 1 before its fiscal year, or April 1 when its name says April (the
    mid-year update); ``effective`` overrides that. All or nothing: the whole file is checked before
    anything is written, a bad row raises :class:`InputError` naming the file and row, and the Parquet table
    appears by an atomic rename. Importing the same fiscal year and update again replaces the earlier one.
    """
    source_path = Path(path)
    source, data = _read_order_source(source_path)
    year = fiscal_year if fiscal_year is not None else _fiscal_year_from_name(source)
    if year is None:
        raise InputError("cannot tell the fiscal year from the file name; give it (--fiscal-year YYYY)",
                         file=source)
    if not 2015 <= year <= 2100:
        raise InputError(f"fiscal year {year} is outside ICD-10-CM's range (FY2016 on)", file=source)
    april = (effective.month == 4) if effective is not None else ("april" in source.lower())
    valid_from = dt.date(year - 1, 10, 1)
    data_effective = effective or (dt.date(year, 4, 1) if april else valid_from)
    if not valid_from <= data_effective <= dt.date(year, 9, 30):
        raise InputError(f"effective date {data_effective} is outside fiscal year {year}", file=source)
    table = _parse_order_lines(_decode(data, source), source)

    update = f"{'April' if april else 'October'} {data_effective.day}, {data_effective.year} update"
    imported_at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    meta = {
        "name": f"ICD-10-CM FY{year}" + (" April update" if april else ""),
        "fiscal_year": str(year),
        "valid_from": valid_from.isoformat(),
        "valid_to": dt.date(year, 9, 30).isoformat(),
        "data_effective": data_effective.isoformat(),
        "update": update,
        "source": f"CMS/CDC ICD-10-CM order file {source}",
        "source_file": str(source_path.resolve()) + (source[len(source_path.name):] if "!" in source else ""),
        "source_sha256": hashlib.sha256(data).hexdigest(),
        "imported_at": imported_at,
        "codes": str(table.height),
        "billable": str(int(table["billable"].sum())),
        "licence": "ICD-10-CM code titles are U.S. Government works by CDC/NCHS and CMS (public domain)",
    }
    folder = _import_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"icd10cm_fy{year}_{'april' if april else 'october'}.parquet"
    arrow = table.to_arrow()
    arrow = arrow.replace_schema_metadata({f"{_META_PREFIX}{k}": v for k, v in meta.items()})
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    os.close(handle)
    try:
        pq.write_table(arrow, temporary, compression="zstd")
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    _imported_releases.cache_clear()
    _table.cache_clear()
    _release_codes.cache_clear()
    _frame_for.cache_clear()
    release = _release_from_meta(meta, where=str(target), path=str(target), bundled=False)
    return replace(release, created=imported_at)
