"""The code book: lookups by date of service, formats per code set, and the data file's own consistency."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

import pytest

from cleanclaim.codebook import CodeBook, CodeKind, LookupStatus, TimeRule, codebook, kind_from_format
from cleanclaim.errors import DataError

BOOK = codebook()
REQUIRED = (
    [f"970{n:02d}" for n in (10, 12, 14, 16, 18, 22, 24, 26, 28, 32, 33, 34, 35, 36, 39)]
    + ["97110", "97112", "97116", "97140", "97150", *(str(c) for c in range(97161, 97169)), "97530", "97533",
       "97535", "97537", "97542", "97750", "97755", "97760", "97761", "97763", "97550", "97551", "97552",
       "96156", "96158", "96159", "96164", "96165", "96167", "96168", "96170", "96171",
       *(str(c) for c in range(96150, 96156)), "0591T", "0592T", "0593T",
       "99401", "99402", "99403", "99404", "99411", "99412", "99406", "99407", "99408", "99409", "G0396", "G0397",
       "G2011", "G0442", "G0443", "G0444", "G0446", "G0447", "G0473", "97802", "97803", "97804", "G0270", "G0271",
       "G0108", "G0109", "98960", "98961", "98962", "G0019", "G0022", "G0023", "G0024", "G0140", "G0146", "G0136",
       "99202", "99203", "99204", "99205", "99211", "99212", "99213", "99214", "99215", "99201", "G0436", "G0437"]
)


def test_every_code_the_foundation_issue_names_is_there() -> None:
    missing = [code for code in REQUIRED if code not in BOOK]
    assert missing == []
    assert any(e.kind is CodeKind.CPT2 for e in BOOK)
    assert any(e.lab for e in BOOK)


@pytest.mark.parametrize(
    ("code", "kind"),
    [("97535", CodeKind.CPT1), ("1036F", CodeKind.CPT2), ("0592T", CodeKind.CPT3), ("0001U", CodeKind.PLA),
     ("G0447", CodeKind.HCPCS2), ("9753", None), ("975355", None), ("0592X", None), ("W0447", None), ("g0447", None)],
)
def test_format_per_code_set(code: str, kind: CodeKind | None) -> None:
    assert kind_from_format(code) is kind


@pytest.mark.parametrize(
    ("code", "date", "status"),
    [("96150", "2019-12-31", LookupStatus.VALID), ("96150", "2020-01-01", LookupStatus.DELETED),
     ("96156", "2019-12-31", LookupStatus.NOT_YET_EFFECTIVE), ("96156", "2020-01-01", LookupStatus.VALID),
     ("99201", "2020-12-31", LookupStatus.VALID), ("99201", "2021-01-01", LookupStatus.DELETED),
     ("G0436", "2016-09-30", LookupStatus.VALID), ("G0436", "2016-10-01", LookupStatus.DELETED),
     ("97550", "2023-12-31", LookupStatus.NOT_YET_EFFECTIVE), ("97551", "2024-01-01", LookupStatus.VALID),
     ("97999", "2026-01-01", LookupStatus.UNKNOWN), ("97-10", "2026-01-01", LookupStatus.INVALID_FORMAT)],
)
def test_lookup_by_date_of_service(code: str, date: str, status: LookupStatus) -> None:
    assert BOOK.lookup(code, dt.date.fromisoformat(date)).status is status


def test_deleted_codes_name_their_replacements() -> None:
    day = dt.date(2026, 3, 2)
    assert BOOK.lookup("96150", day).entry.replaced_by == ("96156",)  # type: ignore[union-attr]
    assert BOOK.lookup("96152", day).entry.replaced_by == ("96158", "96159")  # type: ignore[union-attr]
    assert BOOK.lookup("99201", day).entry.replaced_by == ("99202",)  # type: ignore[union-attr]


def test_g0136_changed_meaning_in_2026() -> None:
    old = BOOK.get("G0136", dt.date(2025, 6, 1))
    new = BOOK.get("G0136", dt.date(2026, 6, 1))
    assert old is not None and new is not None
    assert "social" in old.summary and "physical activity" in new.summary


def test_families_are_ordered_by_time() -> None:
    day = dt.date(2026, 3, 2)
    assert [e.code for e in BOOK.family("tobacco-cessation", day)] == ["99406", "99407"]
    assert [e.code for e in BOOK.family("sbi-medicare", day)] == ["G2011", "G0396", "G0397"]
    assert [e.code for e in BOOK.family("preventive-counseling", day)] == ["99401", "99402", "99403", "99404"]


def test_the_data_file_is_consistent() -> None:
    day = dt.date(2026, 3, 2)
    for entry in BOOK:
        assert entry.summary and entry.reference, entry.code
        assert kind_from_format(entry.code) is entry.kind, entry.code
        if entry.time_rule is TimeRule.BASE:
            addon = BOOK.versions(entry.addon_code or "")
            assert addon and addon[0].base_code == entry.code, entry.code
            # the CPT midpoint, or the whole first period where the code's own rule asks for it (RTM 98980: 20 min)
            assert entry.min_minutes in ((entry.typical_minutes or 0) // 2 + 1, entry.typical_minutes), entry.code
        if entry.time_rule is TimeRule.RANGE:
            assert entry.min_minutes is not None, entry.code
        for code in (*entry.replaced_by, *([entry.medicare_code] if entry.medicare_code else [])):
            assert code in BOOK, (entry.code, code)
        assert set(entry.therapy_modifiers) <= {"GP", "GO", "GN"}
        if entry.therapy == "always":
            assert entry.therapy_modifiers, entry.code
        if entry.effective and entry.deleted:
            assert entry.effective < entry.deleted
    for code in {e.code for e in BOOK}:
        in_force = [v for v in BOOK.versions(code) if v.valid_on(day)]
        assert len(in_force) <= 1, code


def test_a_codes_versions_do_not_overlap() -> None:
    """One version of a code in force on any date: lines_with_codes joins a line to one version, and
    below-minimum-time's large-run narrowing relies on it (a line joined to two versions could be half dropped)."""
    for code in {e.code for e in BOOK}:
        versions = sorted(BOOK.versions(code), key=lambda v: v.effective or dt.date.min)
        for before, after in itertools.pairwise(versions):
            assert before.deleted is not None and after.effective is not None, code
            assert before.deleted <= after.effective, (code, before.deleted, after.effective)


@pytest.mark.parametrize(("first", "second"), [
    ((None, None), (dt.date(2026, 1, 1), None)),  # the first never ends
    ((dt.date(2020, 1, 1), dt.date(2026, 6, 1)), (dt.date(2026, 1, 1), None)),  # ends after the next one starts
])
def test_a_code_book_with_overlapping_versions_is_a_data_error(first: tuple[dt.date | None, dt.date | None],
                                                               second: tuple[dt.date | None, dt.date | None]) -> None:
    entry = BOOK.versions("97110")[0]
    versions = [dataclasses.replace(entry, effective=first[0], deleted=first[1]),
                dataclasses.replace(entry, effective=second[0], deleted=second[1])]
    with pytest.raises(DataError, match=r"my-codes\.csv: code 97110 has versions in force on the same dates"):
        CodeBook(versions, source="my-codes.csv")
    # ending on the day the next one starts is no overlap (a version ends the day before its deleted date)
    CodeBook([dataclasses.replace(entry, effective=None, deleted=dt.date(2026, 1, 1)),
              dataclasses.replace(entry, effective=dt.date(2026, 1, 1), deleted=None)])


def test_range_families_do_not_overlap() -> None:
    day = dt.date(2026, 3, 2)
    for family in {e.family for e in BOOK if e.time_rule is TimeRule.RANGE}:
        members = [e for e in BOOK.family(family, day) if e.time_rule is TimeRule.RANGE]
        for low, high in itertools.pairwise(members):
            assert low.max_minutes is not None and high.min_minutes is not None, family
            assert low.max_minutes < high.min_minutes, (low.code, high.code)


# ---- issue 14 item 8: the code book's gaps (RTM, SLP, cognitive, work hardening, wound care, MNT/DSMT/IBT) ----------

@pytest.mark.parametrize(("code", "valid_on", "not_valid_on"), [
    ("98975", dt.date(2022, 1, 1), dt.date(2021, 12, 31)),
    ("98978", dt.date(2023, 1, 1), dt.date(2022, 12, 31)),
    ("98979", dt.date(2026, 1, 1), dt.date(2025, 12, 31)),  # CY2026 RTM codes (CMS CR 14250)
    ("98984", dt.date(2026, 1, 1), dt.date(2025, 12, 31)),
    ("98985", dt.date(2026, 1, 1), dt.date(2025, 12, 31)),
    ("98986", dt.date(2026, 1, 1), dt.date(2025, 12, 31)),
    ("92521", dt.date(2014, 1, 1), dt.date(2013, 12, 31)),
    ("97129", dt.date(2020, 1, 1), dt.date(2019, 12, 31)),
    ("97607", dt.date(2013, 1, 1), dt.date(2012, 12, 31)),
    ("G0473", dt.date(2015, 1, 1), dt.date(2014, 12, 31)),
])
def test_added_codes_are_dated(code: str, valid_on: dt.date, not_valid_on: dt.date) -> None:
    assert BOOK.get(code, valid_on) is not None
    assert BOOK.get(code, not_valid_on) is None


@pytest.mark.parametrize("code", ["98975", "98976", "98977", "98978", "98979", "98980", "98981", "98984", "98985",
                                  "98986", "92507", "92508", "92521", "92522", "92523", "92524", "92526", "92610",
                                  "97129", "97130", "97545", "97546", "97597", "97598", "97605", "97606", "97607",
                                  "97608", "97802", "97803", "97804", "G0108", "G0109", "G0473"])
def test_added_codes_say_who_may_bill_and_how_time_counts(code: str) -> None:
    entry = BOOK.get(code, dt.date(2026, 3, 2))
    assert entry is not None
    assert entry.billers and entry.reference
    assert entry.minutes_text()


def test_rtm_management_needs_its_full_time_and_slp_codes_take_gn() -> None:
    day = dt.date(2026, 3, 2)
    rtm, first_ten = BOOK.get("98980", day), BOOK.get("98979", day)
    assert rtm is not None and (rtm.time_rule, rtm.min_minutes, rtm.addon_code) == (TimeRule.BASE, 20, "98981")
    assert first_ten is not None and (first_ten.time_rule, first_ten.min_minutes) == (TimeRule.AT_LEAST, 10)
    assert rtm.therapy == "sometimes" and "PT" in rtm.billers  # PTs/OTs may bill RTM (CY2022 PFS final rule)
    for code in ("92507", "92521", "92523"):
        entry = BOOK.get(code, day)
        assert entry is not None and entry.always_therapy and entry.therapy_modifiers == ("GN",)
        assert not entry.timed  # untimed: one unit a session
    swallowing = BOOK.get("92526", day)
    assert swallowing is not None and set(swallowing.therapy_modifiers) == {"GN", "GO"}
    cognitive = BOOK.get("97129", day)
    assert cognitive is not None and (cognitive.time_rule, cognitive.min_minutes) == (TimeRule.BASE, 8)
