"""Payer profiles: built in, from a user directory, extending another, and clear errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from cleanclaim.errors import InputError, UnknownPayerError
from cleanclaim.payers import available_profiles, load_profile, payer_id, profile_for
from cleanclaim.scrub import check


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
    with pytest.raises(UnknownPayerError, match="known profiles: commercial, medicaid, medicare, tricare"):
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


# ---- ids are names, never paths (issue 11, security) ----------------------------------------------------------------

_OUTSIDE = "program: commercial\nname: Planted\ntime_rule: cms\ntherapy_modifiers: optional\n" \
           "assistant_modifiers: false\nuse_medicare_codes: false\ntimely_filing_days: 1\n"


@pytest.mark.parametrize("bad", ["../evil", "/abs/evil", "evil.yaml", "a/b", "..", "", " ", "evil\x00",
                                 "med icare", "\u0661\u0662", "x" * 65])
def test_payer_id_that_is_not_a_plain_name_is_refused_before_any_file_is_read(bad: str, tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_profile(bad, [tmp_path])
    assert caught.value.field == "payer"
    assert not isinstance(caught.value, UnknownPayerError)  # never falls back either
    with pytest.raises(InputError):
        profile_for(bad, [tmp_path])


def test_payer_id_is_trimmed_and_lower_cased_at_the_edge_of_the_pattern() -> None:
    assert payer_id(" Medicare ") == "medicare"
    assert payer_id("a_b-9") == "a_b-9"
    assert payer_id("x" * 64) == "x" * 64


def test_absolute_path_as_payer_does_not_load_that_file(tmp_path: Path) -> None:
    planted = tmp_path / "evil.yaml"
    planted.write_text(_OUTSIDE)
    with pytest.raises(InputError, match="a name, not a path"):
        load_profile(str(tmp_path / "evil"))


def test_extends_with_a_path_is_an_input_error_naming_the_profile_file(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.yaml").write_text(_OUTSIDE)
    users = tmp_path / "payers"
    users.mkdir()
    (users / "mine.yaml").write_text("extends: ../outside/evil\nname: Mine\n")
    with pytest.raises(InputError) as caught:
        load_profile("mine", [users])
    assert caught.value.field == "extends"
    assert str(caught.value.file).endswith("mine.yaml")


def test_a_profile_file_cannot_claim_to_be_a_fallback(tmp_path: Path) -> None:
    (tmp_path / "sneaky.yaml").write_text("extends: commercial\nmissing_profile: medicare\n")
    with pytest.raises(InputError) as caught:
        load_profile("sneaky", [tmp_path])
    assert caught.value.field == "missing_profile"


def test_files_whose_names_are_not_ids_are_not_listed(tmp_path: Path) -> None:
    (tmp_path / "Bad Name.yaml").write_text(_OUTSIDE)
    (tmp_path / "good.yaml").write_text("extends: commercial\n")
    assert "good" in available_profiles([tmp_path])
    assert "Bad Name" not in available_profiles([tmp_path])


# ---- generic Medicaid and TRICARE, and the fallback ------------------------------------------------------------------

def test_medicaid_and_tricare_are_built_in_with_their_federal_filing_limits() -> None:
    medicaid, tricare = load_profile("medicaid"), load_profile("tricare")
    assert medicaid.program == "medicaid"
    assert medicaid.timely_filing_days == 365 and "447.45" in medicaid.timely_filing_reference
    assert not medicaid.timely_filing_confirmed  # a state may set less: only a warning
    assert tricare.timely_filing_days == 365 and "199.7" in tricare.timely_filing_reference
    assert tricare.timely_filing_confirmed
    assert medicaid.kx_threshold(2026) is None and tricare.kx_threshold(2026) is None


def test_payer_without_profile_falls_back_to_commercial_marked_with_the_missing_id(tmp_path: Path) -> None:
    profile = profile_for("Acme-Health", [tmp_path])
    assert profile.missing_profile == "acme-health"
    assert profile.time_rule == load_profile("commercial").time_rule
    assert profile_for("acme-health", [tmp_path]) is profile  # one object per missing id
    assert profile_for("medicare").missing_profile is None


def test_fallback_uses_the_users_own_commercial_profile(tmp_path: Path) -> None:
    (tmp_path / "commercial.yaml").write_text("extends: medicare\nid: commercial\nname: Our commercial\n")
    assert profile_for("nobody-known", [tmp_path]).name == "Our commercial"


def _encounter(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "E1", "date": "2026-03-02", "payer": "medicare", "place_of_service": "11",
        "patient": {"id": "P1", "birth_date": "1950-01-01", "sex": "F"},
        "provider": {"npi": "1234567893", "discipline": "PT"}, "diagnoses": ["M62.81"],
        "lines": [{"code": "97110", "modifiers": ["GP"], "units": 1, "minutes": 15, "dx_pointers": [1],
                   "charge": 40}],
    }
    base.update(changes)
    return base


def test_yaml_encounter_of_unknown_payer_is_checked_with_one_warning(tmp_path: Path) -> None:
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"encounters": [_encounter(payer="acme-health"),
                                                   _encounter(id="E2", payer="medicaid")]}))
    result = check(path, as_of=dt.date(2026, 4, 1), payers_dir=tmp_path / "none")
    assert result.errors == []
    unknown = [f for f in result.findings if f.rule == "unknown-payer-profile"]
    assert [(f.encounter, f.severity.value) for f in unknown] == [("E1", "warning")]
    assert "acme-health" in unknown[0].message
    assert result.summary.encounters == 2


@pytest.mark.parametrize("bad", ["/abs/path/evil", "../../etc/evil", "payers/evil"])
def test_yaml_encounter_with_a_path_as_payer_is_an_input_error_for_that_record(bad: str, tmp_path: Path) -> None:
    (tmp_path / "evil.yaml").write_text(_OUTSIDE)
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"encounters": [_encounter(payer=bad), _encounter(id="E2")]}))
    result = check(path, as_of=dt.date(2026, 4, 1))
    assert [(e.encounter, e.field) for e in result.errors] == [("E1", "payer")]
    assert bad not in str(result.errors[0])
    assert result.summary.encounters == 1  # E2 is still checked


def test_payer_option_with_a_path_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"encounters": [_encounter()]}))
    with pytest.raises(InputError) as caught:
        check(path, payer=str(tmp_path / "evil"), as_of=dt.date(2026, 4, 1))
    assert caught.value.field == "--payer"
    table = tmp_path / "claims.csv"
    table.write_text("encounter_id,date,code,units\nE1,2026-03-02,97110,1\n")
    with pytest.raises(InputError) as caught:
        check(table, payer="../evil", as_of=dt.date(2026, 4, 1))
    assert caught.value.field == "--payer"


def test_payer_option_naming_no_profile_is_an_input_error_not_a_fallback(tmp_path: Path) -> None:
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"encounters": [_encounter()]}))
    with pytest.raises(InputError, match="unknown payer profile 'medicar'") as caught:
        check(path, payer="medicar", as_of=dt.date(2026, 4, 1))
    assert caught.value.field == "--payer"
    (tmp_path / "mine.yaml").write_text("extends: commercial\n")
    assert check(path, payer="mine", payers_dir=tmp_path, as_of=dt.date(2026, 4, 1)).errors == []


def test_csv_payer_column_path_is_an_error_and_unknown_payer_is_checked(tmp_path: Path) -> None:
    (tmp_path / "evil.yaml").write_text(_OUTSIDE)
    table = tmp_path / "claims.csv"
    table.write_text("encounter_id,date,payer,code,modifiers,units\n"
                     f"E1,2026-03-02,{tmp_path / 'evil'},97110,GP,1\n"
                     "E2,2026-03-02,acme-health,97110,GP,1\n"
                     "E3,2026-03-02,tricare,97110,GP,1\n")
    result = check(table, as_of=dt.date(2026, 4, 1))
    assert [(e.field, "E1" in e.message) for e in result.errors] == [("payer", True)]
    assert result.summary.encounters == 2
    unknown = [f.encounter for f in result.findings if f.rule == "unknown-payer-profile"]
    assert unknown == ["E2"]


def test_837p_payer_mapping_to_a_path_is_an_error_for_those_claims_only(tmp_path: Path) -> None:
    from cleanclaim.formats.x12_837p import read_837p

    (tmp_path / "evil.yaml").write_text(_OUTSIDE)
    fixture = Path(__file__).parent / "formats" / "x12" / "fixtures" / "harbor_pt_claims.837"
    read = read_837p(fixture, payer_profiles={"12345": str(tmp_path / "evil")})
    result = check(read.encounters, as_of=dt.date(2026, 4, 1))
    assert [(e.encounter, e.field) for e in result.errors] == [("CLM-1001", "payer"), ("CLM-1002", "payer")]
    assert result.summary.encounters == 2  # the claims of the other payer are checked
