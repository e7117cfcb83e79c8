"""Payer profiles: how Medicare and a commercial payer differ, as data.

Time rule, therapy and assistant modifiers, G-code equivalents, non-covered codes, timely filing, KX thresholds,
telehealth and frequency limits differ by payer and change by year, so they live in YAML files. ``medicare`` and
``commercial`` are built in; a user adds profiles in a directory (``--payers-dir``, ``$CLEANCLAIM_PAYERS_DIR`` or
``<data dir>/payers``). A profile may ``extends:`` another and override only what differs.

A profile id is a name, never a path: only ``[a-z0-9_-]+`` (after trimming and lower-casing) is looked up, so an
encounter's ``payer: ../../etc/x`` or ``extends: /abs/evil`` cannot make cleanclaim read a YAML file elsewhere on
disk (:func:`payer_id`). A claim whose payer has no profile is not dropped: :func:`profile_for` checks it under
the ``commercial`` profile (:data:`FALLBACK_PROFILE`, the user's own ``commercial.yaml`` when there is one), marked
with ``missing_profile`` so the ``unknown-payer-profile`` rule reports it once per claim.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cleanclaim.errors import InputError, UnknownPayerError
from cleanclaim.model import Severity
from cleanclaim.paths import data_dir

__all__ = [
    "CodeLimit",
    "FrequencyLimit",
    "KxSettings",
    "PayerProfile",
    "TelehealthSettings",
    "available_profiles",
    "load_profile",
    "payer_id",
    "profile_dirs",
    "profile_for",
]

BUILT_IN = ("medicare", "commercial", "medicaid", "tricare")
# The profile a claim is checked under when its payer has none: the most general one (no Medicare-only codes, no
# assumed program limits). Rules that depend on the payer then judge it as a typical commercial payer would.
FALLBACK_PROFILE = "commercial"
_PAYER_ID = re.compile(r"[a-z0-9_-]+")
_PAYER_ID_MAX = 64


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KxSettings(_Settings):
    thresholds: dict[int, float] = Field(default_factory=dict)
    review_threshold: float | None = None
    reference: str = ""


class TelehealthSettings(_Settings):
    places_of_service: list[str] = Field(default_factory=lambda: ["02", "10"])
    modifiers: list[str] = Field(default_factory=lambda: ["95", "93"])
    modifier_required: bool = False
    reference: str = ""


class CodeLimit(_Settings):
    codes: list[str]
    reason: str
    severity: Severity = Severity.WARNING
    reference: str = ""


class FrequencyLimit(_Settings):
    """A payer's limit on how often (or how much of) a service it pays. ``window`` says how the period is counted:
    ``days`` (the ``days`` days ending on the date of service), ``full_months`` (Medicare's "11 full months have
    passed after the month of the last one": ``months`` calendar months including the date's own), or
    ``calendar_year``. ``measure`` counts distinct ``dates`` or ``hours`` (units x the code book's unit minutes);
    ``first_year_max`` is the larger limit of the first calendar year in which the patient had the service."""

    codes: list[str]
    max: float = Field(gt=0)
    days: int = Field(default=365, ge=1)
    window: Literal["days", "full_months", "calendar_year"] = "days"
    months: int = Field(default=12, ge=1)
    measure: Literal["dates", "hours"] = "dates"
    first_year_max: float | None = Field(default=None, gt=0)
    severity: Severity = Severity.WARNING
    reason: str = ""
    reference: str = ""


class DistinctGoals(_Settings):
    codes: list[str]
    with_codes: list[str] = Field(alias="with")
    severity: Severity = Severity.WARNING
    reason: str = ""
    reference: str = ""


class PayerProfile(_Settings):
    """One payer's rules. Every field has a source comment in the shipped YAML."""

    id: str
    name: str
    program: Literal["medicare", "medicaid", "commercial", "other"] = "commercial"
    time_rule: Literal["cms", "per_code"]
    therapy_modifiers: Literal["required", "optional"]
    assistant_modifiers: bool
    use_medicare_codes: bool
    timely_filing_days: int = Field(ge=1)
    timely_filing_reference: str = ""
    # False unless the limit is sourced (law or the payer's contract): an assumed limit only warns (timely-filing)
    timely_filing_confirmed: bool = False
    kx: KxSettings = Field(default_factory=KxSettings)
    telehealth: TelehealthSettings = Field(default_factory=TelehealthSettings)
    modifier_33_allowed: bool = True
    modifier_33_reference: str = ""
    not_covered: list[CodeLimit] = Field(default_factory=list)
    progress_report_visits: int | None = None
    plan_of_care_recert_days: int | None = None
    therapy_documentation_reference: str = ""
    frequency_limits: list[FrequencyLimit] = Field(default_factory=list)
    distinct_goals: list[DistinctGoals] = Field(default_factory=list)
    source: str = ""
    # Set by cleanclaim, never by a profile file: the payer id that has no profile, when this is the fallback
    # profile standing in for it (see ``profile_for``).
    missing_profile: str | None = None

    @property
    def time_rule_label(self) -> str:
        return "CMS 8-minute rule" if self.time_rule == "cms" else "per-code rule of eights"

    def kx_threshold(self, year: int) -> float | None:
        return self.kx.thresholds.get(year)

    def not_covered_entry(self, code: str) -> CodeLimit | None:
        for entry in self.not_covered:
            if code in entry.codes:
                return entry
        return None


def profile_dirs(extra: Iterable[Path] = ()) -> list[Path]:
    """Directories searched for user profiles, most specific first."""
    dirs = list(extra)
    env = os.environ.get("CLEANCLAIM_PAYERS_DIR")
    if env:
        dirs.extend(Path(p) for p in env.split(os.pathsep) if p)
    dirs.append(data_dir() / "payers")
    return dirs


def _read_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', exc)}", file=source,
                         line=mark.line + 1 if mark is not None else None) from exc
    if not isinstance(data, dict):
        raise InputError("a payer profile must be a mapping of settings", file=source)
    return data


def merge_settings(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``, mappings merged key by key and everything else replaced (how ``extends:``
    works)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_settings(merged[key], value)
        else:
            merged[key] = value
    return merged


def payer_id(value: object, *, field: str = "payer") -> str:
    """The profile id as cleanclaim looks it up (trimmed, lower case), or an :class:`InputError` for ``field`` when
    it is not a plain name. The value is not echoed in full: it may be a path the user did not mean to show."""
    text = value.strip().lower() if isinstance(value, str) else ""
    if not _PAYER_ID.fullmatch(text) or len(text) > _PAYER_ID_MAX:
        raise InputError(f"a payer profile id is 1 to {_PAYER_ID_MAX} of a-z, 0-9, '_' and '-' (a name, not a "
                         "path)", field=field)
    return text


def _raw_profile(profile_id: str, dirs: tuple[Path, ...]) -> tuple[dict[str, Any], str]:
    for directory in dirs:
        for suffix in (".yaml", ".yml"):
            path = directory / f"{profile_id}{suffix}"
            if path.is_file():
                return _read_yaml(path.read_text(encoding="utf-8"), str(path)), str(path)
    if profile_id in BUILT_IN:
        name = f"{profile_id}.yaml"
        text = resources.files("cleanclaim.payers").joinpath(name).read_text(encoding="utf-8")
        return _read_yaml(text, f"cleanclaim/payers/{name}"), f"built-in {name}"
    known = ", ".join(sorted(available_profiles(dirs)))
    raise UnknownPayerError(f"unknown payer profile {profile_id!r}; known profiles: {known}", field="payer")


def _resolve(profile_id: str, dirs: tuple[Path, ...], seen: tuple[str, ...] = ()) -> tuple[dict[str, Any], str]:
    if profile_id in seen:
        raise InputError(f"payer profiles extend each other in a loop: {' -> '.join((*seen, profile_id))}",
                         field="extends")
    raw, source = _raw_profile(profile_id, dirs)
    if "missing_profile" in raw:
        raise InputError("missing_profile is set by cleanclaim, not in a profile file", file=source,
                         field="missing_profile")
    parent = raw.pop("extends", None)
    if parent:
        try:
            parent_id = payer_id(parent, field="extends")
        except InputError as exc:
            raise InputError(exc.message, file=source, field="extends") from None
        base, _ = _resolve(parent_id, dirs, (*seen, profile_id))
        raw = merge_settings(base, raw)
    raw.setdefault("id", profile_id)
    return raw, source


@cache
def _load(profile_id: str, dirs: tuple[Path, ...]) -> PayerProfile:
    raw, source = _resolve(profile_id, dirs)
    raw["source"] = source
    try:
        return PayerProfile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InputError(f"payer profile {profile_id!r}: {first['msg']}", file=source, field=field) from exc


def load_profile(profile_id: str, extra_dirs: Iterable[Path] = ()) -> PayerProfile:
    """The profile with this id: a user's file of that name wins over the built-in one. An id that is not a plain
    name is an :class:`InputError` (field ``payer``) before any file is looked at."""
    return _load(payer_id(profile_id), tuple(profile_dirs(extra_dirs)))


def profile_for(profile_id: str, extra_dirs: Iterable[Path] = ()) -> PayerProfile:
    """The payer's profile, or the fallback profile marked with the missing id when the payer has none, so the
    claim is still checked (and reported once by ``unknown-payer-profile``). A malformed id or a broken profile
    file is still an :class:`InputError`: only a well-formed id without a file falls back."""
    try:
        return load_profile(profile_id, extra_dirs)
    except UnknownPayerError:
        return _fallback(payer_id(profile_id), tuple(profile_dirs(extra_dirs)))


@cache
def _fallback(missing: str, dirs: tuple[Path, ...]) -> PayerProfile:
    # cached so one process hands out one object per missing id (profile frames are cached by object identity)
    return _load(FALLBACK_PROFILE, dirs).model_copy(update={"missing_profile": missing})


def available_profiles(dirs: Iterable[Path] = ()) -> set[str]:
    names = set(BUILT_IN)
    for directory in dirs:
        if directory.is_dir():
            names.update(p.stem for p in directory.iterdir()
                         if p.suffix in {".yaml", ".yml"} and _PAYER_ID.fullmatch(p.stem))
    return names
