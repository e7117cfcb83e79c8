"""Payer profiles: how Medicare and a commercial payer differ, as data.

Time rule, therapy and assistant modifiers, G-code equivalents, non-covered codes, timely filing, KX thresholds,
telehealth and frequency limits differ by payer and change by year, so they live in YAML files. ``medicare`` and
``commercial`` are built in; a user adds profiles in a directory (``--payers-dir``, ``$CLEANCLAIM_PAYERS_DIR`` or
``<data dir>/payers``). A profile may ``extends:`` another and override only what differs.
"""

from __future__ import annotations

import os
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
    "profile_dirs",
]

BUILT_IN = ("medicare", "commercial")


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
    codes: list[str]
    max: int = Field(ge=1)
    days: int = Field(ge=1)
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
    parent = raw.pop("extends", None)
    if parent:
        base, _ = _resolve(str(parent), dirs, (*seen, profile_id))
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
    """The profile with this id: a user's file of that name wins over the built-in one."""
    return _load(profile_id.strip().lower(), tuple(profile_dirs(extra_dirs)))


def available_profiles(dirs: Iterable[Path] = ()) -> set[str]:
    names = set(BUILT_IN)
    for directory in dirs:
        if directory.is_dir():
            names.update(p.stem for p in directory.iterdir() if p.suffix in {".yaml", ".yml"})
    return names
