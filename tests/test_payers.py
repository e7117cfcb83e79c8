"""Payer profiles: built in, from a user directory, extending another, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from cleanclaim.errors import InputError, UnknownPayerError
from cleanclaim.payers import load_profile


def test_built_in_profiles_differ_where_the_facts_say() -> None:
    medicare, commercial = load_profile("medicare"), load_profile("commercial")
    assert (medicare.time_rule, commercial.time_rule) == ("cms", "per_code")
    assert medicare.kx_threshold(2026) == 2480
    assert medicare.kx_threshold(2025) == 2410
    assert medicare.timely_filing_days == 365
    assert medicare.use_medicare_codes and not commercial.use_medicare_codes
    assert not medicare.modifier_33_allowed and commercial.modifier_33_allowed


def test_user_profile_extends_medicare(tmp_path: Path) -> None:
    (tmp_path / "acme-advantage.yaml").write_text(
        "extends: medicare\nname: Acme Medicare Advantage\ntimely_filing_days: 90\n"
        "kx: {thresholds: {2026: 2000}}\n")
    profile = load_profile("acme-advantage", [tmp_path])
    assert profile.name == "Acme Medicare Advantage"
    assert profile.timely_filing_days == 90
    assert profile.time_rule == "cms"
    assert profile.kx_threshold(2026) == 2000
    assert profile.kx.review_threshold == 3000
    assert profile.source.endswith("acme-advantage.yaml")


def test_unknown_payer_names_the_known_ones() -> None:
    with pytest.raises(UnknownPayerError, match="known profiles: commercial, medicare"):
        load_profile("nobody")


def test_extends_loop_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("extends: b\n")
    (tmp_path / "b.yaml").write_text("extends: a\n")
    with pytest.raises(InputError, match="loop"):
        load_profile("a", [tmp_path])


def test_bad_setting_names_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("extends: commercial\ntime_rule: hourly\n")
    with pytest.raises(InputError) as caught:
        load_profile("bad", [tmp_path])
    assert caught.value.field == "time_rule"
    assert str(caught.value.file).endswith("bad.yaml")
