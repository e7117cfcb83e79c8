"""X12 validation as findings (the ``x12`` family): every fixture is valid, and each mutation of one breaks exactly the
thing it names, reported at its segment number, loop and element with the 999/TA1 code, without echoing a value.

These are the x12 rules' cases: they read files, not encounters, so they live here instead of tests/rules/cases.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cleanclaim.cli import app
from cleanclaim.formats.x12_validation import X12_RULES, x12_findings
from cleanclaim.model import Finding, Severity
from cleanclaim.rules.engine import RuleSelection
from cleanclaim.rules.registry import all_rules
from cleanclaim.scrub import check

from .conftest import FIXTURES

HARBOR = FIXTURES / "harbor_pt_claims.837"
LAKESIDE = FIXTURES / "lakeside_coaching_pipe.837"
CONTRACT_KEYS = {"rule", "id", "severity", "encounter", "line", "code", "message", "fix", "references"}


def mutate(path: Path, *replacements: tuple[str, str]) -> str:
    text = path.read_text()
    for old, new in replacements:
        assert text.count(old) == 1, f"{old!r} must occur once in {path.name}"
        text = text.replace(old, new)
    return text


def segment_number(text: str, marker: str) -> int:
    """The 1-based number of the segment where ``marker`` starts, counted with the ISA's own terminator."""
    terminator = text[105]
    return text[: text.index(marker)].count(terminator) + 1


@dataclass(frozen=True)
class Mutation:
    name: str
    path: Path
    replacements: tuple[tuple[str, str], ...]
    rule: str
    marker: str
    """Text that starts the segment the finding must point at (after the mutation)."""
    place: str
    """What follows the segment number in the message: "(SV1, loop 2400), element SV103"."""
    ack: str
    encounter: str | None = None
    line: int | None = None
    says: tuple[str, ...] = ()
    hidden: str | None = None
    """A patient value the mutation put in the file: it must appear in no message or fix."""


MUTATIONS = [
    Mutation("iea02-differs-from-isa13", HARBOR, (("IEA*1*000000417", "IEA*1*000000418"),), "x12-envelope",
             "IEA*", "(IEA)", "TA1 TA105 code 001", says=("IEA02 is '000000418'", "ISA13 '000000417'")),
    Mutation("iea01-counts-two-groups", HARBOR, (("IEA*1*", "IEA*2*"),), "x12-envelope", "IEA*", "(IEA)",
             "TA1 TA105 code 021", says=("IEA01 says 2", "expected 1")),
    Mutation("se01-one-short", HARBOR, (("SE*58*0001", "SE*57*0001"),), "x12-envelope", "SE*57", "(SE)",
             "999 IK502 code 4", says=("SE01 says 57", "expected 58")),
    Mutation("se01-one-over", HARBOR, (("SE*58*0001", "SE*59*0001"),), "x12-envelope", "SE*59", "(SE)",
             "999 IK502 code 4", says=("SE01 says 59", "expected 58")),
    Mutation("se02-differs-from-st02", HARBOR, (("SE*26*0002", "SE*26*0003"),), "x12-envelope", "SE*26", "(SE)",
             "999 IK502 code 3", says=("SE02 is '0003'", "ST02 '0002'")),
    Mutation("ge01-counts-one-set", HARBOR, (("GE*2*417", "GE*1*417"),), "x12-envelope", "GE*", "(GE)",
             "999 AK905 code 5", says=("GE01 says 1", "expected 2")),
    Mutation("se01-off-in-pipe-file", LAKESIDE, (("SE|28|2001", "SE|27|2001"),), "x12-envelope", "SE|27", "(SE)",
             "999 IK502 code 4", says=("SE01 says 27", "expected 28")),
    Mutation("required-element-missing", HARBOR, (("NM1*IL*1*Example*Ann", "NM1*IL*1**Ann"),), "x12-element",
             "NM1*IL", "(NM1, loop 2010BA), element NM103", "999 IK403 code 1"),
    Mutation("required-element-missing-pipe", LAKESIDE, (("N4|Evanston|IL", "N4||IL"),), "x12-element",
             "N4||IL", "(N4, loop 2010BA), element N401", "999 IK403 code 1"),
    Mutation("bad-code-in-required-element", HARBOR,
             (("SV1*HC:97110:GP*90*UN*2***1:2", "SV1*HC:97110:GP*90*UX*2***1:2"),), "x12-element",
             "SV1*HC:97110:GP*90*UX", "(SV1, loop 2400), element SV103", "999 IK403 code 7",
             encounter="CLM-1001", line=2, says=("expected one of MJ, UN",)),
    Mutation("component-too-long", HARBOR, (("SV1*HC:97110:GP*90*UN*2***1:2", "SV1*HC:97110:GPX*90*UN*2***1:2"),),
             "x12-element", "SV1*HC:97110:GPX", "(SV1, loop 2400), element SV101-3", "999 IK403 code 5",
             encounter="CLM-1001", line=2, says=("(3 characters)", "expected 2–2 characters")),
    Mutation("bad-code-in-a-component-pipe", LAKESIDE, (("CLM|CC-2002|125|||11>B>1", "CLM|CC-2002|125|||11>Q>1"),),
             "x12-element", "CLM|CC-2002", "(CLM, loop 2300), element CLM05-2", "999 IK403 code 7",
             encounter="CC-2002", says=("expected one of B",)),
    Mutation("element-one-character-too-long", HARBOR, (("CLM*CLM-1001*", "CLM*CLM-1001" + "X" * 31 + "*"),),
             "x12-element", "CLM*CLM-1001X", "(CLM, loop 2300), element CLM01", "999 IK403 code 5",
             encounter="CLM-1001" + "X" * 31, says=("(39 characters)", "expected 1–38 characters")),
    Mutation("invalid-date", HARBOR, (("DTP*472*D8*20260309~\nLX*2", "DTP*472*D8*20260231~\nLX*2"),), "x12-element",
             "DTP*472*D8*20260231", "(DTP, loop 2400), element DTP03", "999 IK403 code 8", encounter="CLM-1002",
             line=1, says=("CCYYMMDD",)),
    Mutation("envelope-element", HARBOR, (("*0*T*:~", "*0*X*:~"),), "x12-element", "ISA*", "(ISA), element ISA15",
             "999 IK403 code 7", says=("expected one of P, T", "TA1")),
    Mutation("segment-out-of-place", HARBOR,
             (("DMG*D8*19500101*F~\n", ""),
              ("NM1*PR*2*Example Medicare Contractor*****PI*12345~\n",
               "NM1*PR*2*Example Medicare Contractor*****PI*12345~\nDMG*D8*19500101*F~\n")),
             "x12-segment", "DMG*D8*19500101", "(DMG, loop 2010BB)", "999 IK304 code 1", hidden="19500101"),
    Mutation("required-segment-missing-at-end-of-claim", HARBOR,
             (("DTP*472*D8*20260302~\nCLM*CLM-1002", "CLM*CLM-1002"),),
             "x12-segment", "SV1*HC:97530:GP:59", "(SV1, loop 2400)", "999 IK304 code 3", encounter="CLM-1001",
             line=3, says=("after segment", "(DTP) missing")),
    Mutation("service-lines-misnumbered", HARBOR, (("LX*2~\nSV1*HC:97112", "LX*3~\nSV1*HC:97112"),), "x12-segment",
             "LX*3~\nSV1*HC:97112", "(LX, loop 2400)", "pyx12 check LX", encounter="CLM-1002", line=2,
             says=("expected LX01 2",)),
    Mutation("hl-parent-unknown", HARBOR, (("HL*4*3*23*0", "HL*4*9*23*0"),), "x12-segment", "HL*4", "(HL, loop 2000C)",
             "pyx12 check HL2", says=("HL02 names parent 9",)),
    Mutation("trailing-separator", LAKESIDE, (("REF|EA|HADDAD-01", "REF|EA|HADDAD-01|"),), "x12-segment",
             "REF|EA|HADDAD", "(REF, loop 2300)", "999 IK304 code 8", encounter="CC-2002"),
    # patient fields: the finding names the element and the rule, never the value
    Mutation("member-id-too-long", LAKESIDE, (("MI|ZK0048812", "MI|" + "ZK0048812" * 9),), "x12-element",
             "NM1|IL|1|Haddad", "(NM1, loop 2010BA), element NM109", "999 IK403 code 5",
             says=("(81 characters)", "expected 2–80 characters"), hidden="ZK0048812"),
    Mutation("subscriber-name-too-long", LAKESIDE, (("NM1|IL|1|Haddad|", "NM1|IL|1|" + "Haddad" * 11 + "|"),),
             "x12-element", "NM1|IL|1|HaddadHaddad", "(NM1, loop 2010BA), element NM103", "999 IK403 code 5",
             says=("(66 characters)", "expected 1–60 characters"), hidden="Haddad"),
    Mutation("birth-date-impossible", LAKESIDE, (("DMG|D8|19840130|M", "DMG|D8|19841330|M"),), "x12-element",
             "DMG|D8|19841330", "(DMG, loop 2010BA), element DMG02", "999 IK403 code 8", hidden="19841330"),
]


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.837")), ids=lambda p: p.name)
def test_every_fixture_has_no_x12_finding(path: Path) -> None:
    assert x12_findings(path.read_text()) == []


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_mutation_is_reported_at_its_segment_and_element(mutation: Mutation) -> None:
    text = mutate(mutation.path, *mutation.replacements)
    findings = x12_findings(text)
    assert findings, "the mutation was not found"
    number = segment_number(text, mutation.marker)
    at = f"segment {number} {mutation.place}"
    matching = [f for f in findings if f.rule == mutation.rule and at in f.message]
    assert matching, (at, [f.message for f in findings])
    (finding,) = matching[:1]
    assert mutation.ack in finding.message
    assert finding.severity is Severity.ERROR
    assert finding.encounter == mutation.encounter
    assert finding.line == mutation.line
    for text_part in mutation.says:
        assert text_part in finding.message, (text_part, finding.message)
    assert finding.fix
    assert any("005010X222A1" in reference for reference in finding.references)
    if mutation.hidden:
        for found in findings:
            assert mutation.hidden not in found.message + found.fix, found.message


def test_every_x12_rule_has_failing_and_passing_cases() -> None:
    # the x12 rules are skipped by the encounter-case test (tests/rules/test_cases.py): their cases are here
    file_rules = {rule.slug for rule in all_rules() if not rule.reads_tables}
    assert file_rules == {rule.slug for rule in X12_RULES}
    tested = {m.rule for m in MUTATIONS} | {"x12-not-validated"}  # see the tests below
    assert file_rules <= tested
    assert len(list(FIXTURES.glob("*.837"))) >= 2  # the passing cases


def test_a_claim_element_error_points_at_the_claim_and_service_line_of_the_second_transaction() -> None:
    text = mutate(HARBOR, ("SV1*HC:0591T:95*150*UN*", "SV1*HC:0591T:95*150*MN*"))
    (finding,) = x12_findings(text)
    assert finding.encounter == "CLM-1004"
    assert finding.line == 1
    assert f"segment {segment_number(text, 'SV1*HC:0591T')} (SV1, loop 2400), element SV103" in finding.message


def test_a_loop_over_its_maximum_use_is_reported_at_the_first_claim_past_it_and_counts_do_not_leak() -> None:
    # loop 2300 repeats at most 100 times under one subscriber HL: the first patient's two claims + 99 copies of the
    # second (the SE01 is corrected so that the count is the only problem)
    text = HARBOR.read_text()
    start, end = text.index("CLM*CLM-1002"), text.index("HL*3*1*22*1")
    claim = text[start:end]
    copies = "".join(claim.replace("CLM*CLM-1002*", f"CLM*CLM-{2000 + i}*") for i in range(1, 100))
    text = text[:end] + copies + text[end:]
    text = text.replace("SE*58*0001", f"SE*{58 + 99 * claim.count('~')}*0001")
    first = x12_findings(text)
    (finding,) = first
    assert finding.rule == "x12-segment"
    assert finding.encounter == "CLM-2099"  # the 101st claim of the HL
    assert f"segment {segment_number(text, 'CLM*CLM-2099')} (CLM, loop 2300)" in finding.message
    assert "999 IK304 code 4" in finding.message
    assert "Found 101, should have 100" in finding.message
    # pyx12's parsed maps are reused from one validation to the next: nothing of this file's counts may remain
    assert x12_findings(text) == first
    assert x12_findings(HARBOR.read_text()) == []


def test_a_file_cut_short_reports_each_missing_trailer_at_the_envelope_it_leaves_open() -> None:
    text = HARBOR.read_text()
    findings = x12_findings(text[: text.index("SE*58*0001")])
    assert [(f.rule, f.message.split(":")[0]) for f in findings] == [
        ("x12-envelope", "segment 1 (ISA)"), ("x12-envelope", "segment 2 (GS)"), ("x12-envelope", "segment 3 (ST)")]
    assert ["TA1 TA105 code 023" in findings[0].message, "999 AK905 code 3" in findings[1].message,
            "999 IK502 code 2" in findings[2].message] == [True, True, True]


def test_findings_come_in_file_order() -> None:
    text = mutate(HARBOR, ("IEA*1*000000417", "IEA*1*000000418"), ("SE*58*0001", "SE*57*0001"),
                  ("SV1*HC:97110:GP*90*UN*", "SV1*HC:97110:GP*90*UX*"))
    places = [f.message.split(" (")[0] for f in x12_findings(text)]
    assert places == ["segment 30", "segment 60", "segment 88"]


def test_a_remittance_is_judged_by_its_own_implementation_guide() -> None:
    text = (FIXTURES / "remit_harbor.835").read_text()
    se = text[text.index("SE*"):].split("~")[0]  # the first transaction's SE
    count = int(se.split("*")[1])
    (finding,) = x12_findings(text.replace(se, se.replace(f"SE*{count}*", f"SE*{count + 1}*"), 1))
    assert finding.rule == "x12-envelope"
    assert f"SE01 says {count + 1}" in finding.message
    assert "ASC X12 005010X221A1 Health Care Claim Payment/Advice (835) TR3" in finding.references
    assert not any("837" in reference for reference in finding.references)


def test_an_unknown_implementation_guide_is_reported_as_not_validated() -> None:
    text = mutate(HARBOR, ("*X*005010X222A1~\nST", "*X*005010X999A1~\nST"))
    (finding,) = x12_findings(text)
    assert finding.rule == "x12-not-validated"
    assert finding.severity is Severity.WARNING
    assert "segment 2:" in finding.message
    assert "GS08 '005010X999A1'" in finding.message


def test_an_unreadable_interchange_header_is_reported_as_not_validated() -> None:
    text = mutate(HARBOR, ("ISA*00*          *", "ISA*00*    *"))
    (finding,) = x12_findings(text)
    assert finding.rule == "x12-not-validated"
    assert "segment 1 (ISA)" in finding.message


def test_a_pyx12_failure_becomes_one_finding_without_its_text(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyx12 import x12n_document

    def explode(*args: object, **kwargs: object) -> bool:
        raise RuntimeError("member 1EG4TE5MK73 broke it")

    monkeypatch.setattr(x12n_document, "x12n_document", explode)
    (finding,) = x12_findings(HARBOR.read_text())
    assert finding.rule == "x12-not-validated"
    assert "RuntimeError" in finding.message
    assert "1EG4TE5MK73" not in finding.message + finding.fix


def test_damaged_files_never_raise_and_every_finding_says_where() -> None:
    # a few random damages of each fixture (pyx12 itself raises IndexError, AttributeError, X12Error on some)
    rnd = random.Random(11)
    slugs = {rule.slug for rule in X12_RULES}
    for path in (HARBOR, LAKESIDE):
        original = path.read_text()
        for _ in range(20):
            text = list(original)
            for _ in range(rnd.randint(1, 3)):
                at = rnd.randrange(len(text))
                if rnd.random() < 0.5:
                    text[at] = rnd.choice("*~:|>!{ \n0Z-\x00\u0663")
                else:
                    del text[at: at + rnd.randint(1, 30)]
            for finding in x12_findings("".join(text)):
                assert finding.rule in slugs
                assert finding.message.startswith(("segment ", "after segment ", "the file")), finding.message
                assert finding.fix


# ---- through `check`: beside the rules, in the contract's shape, selected like the rules ---------------------------

# a receiver name is required by the TR3 (NM103 of loop 1000B) but not read by cleanclaim: the claims stay readable
NO_RECEIVER_NAME = ("example.org~\nNM1*40*2*Example Clearinghouse*****46", "example.org~\nNM1*40*2******46")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "claims.837"
    path.write_text(text)
    return path


def _x12(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.rule.startswith("x12-")]


def test_check_reports_x12_findings_beside_the_rules(tmp_path: Path) -> None:
    path = _write(tmp_path, mutate(HARBOR, NO_RECEIVER_NAME))
    clean = check(HARBOR)
    result = check(path)
    assert result.errors == []
    assert _x12(clean.findings) == []
    (finding,) = _x12(result.findings)
    assert finding.rule == "x12-element"
    assert finding.id == "CC903"
    assert finding.encounter is None
    assert "segment 7 (NM1, loop 1000B), element NM103" in finding.message
    # the rules ran on the same claims as before, and the summary counts the x12 error
    assert [f for f in result.findings if f not in _x12(result.findings)] == clean.findings
    assert result.summary.encounters == clean.summary.encounters == 4
    assert result.summary.errors == clean.summary.errors + 1
    assert result.exit_code == 1
    data = result.to_json()
    assert all(set(item) == CONTRACT_KEYS for item in data["findings"])
    json.dumps(data)


def test_x12_findings_are_selected_like_rules(tmp_path: Path) -> None:
    path = _write(tmp_path, mutate(HARBOR, NO_RECEIVER_NAME))
    assert _x12(check(path, selection=RuleSelection(ignore=frozenset({"x12"}))).findings) == []
    assert _x12(check(path, selection=RuleSelection(ignore=frozenset({"x12-element"}))).findings) == []
    lowered = check(path, selection=RuleSelection(severity={"x12-element": Severity.WARNING}))
    assert [f.severity for f in _x12(lowered.findings)] == [Severity.WARNING]
    only = check(path, selection=RuleSelection(select=frozenset({"CC903"})))
    assert [f.rule for f in only.findings] == ["x12-element"]


def test_ignoring_the_family_skips_the_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pyx12 import x12n_document

    def explode(*args: object, **kwargs: object) -> bool:
        raise AssertionError("pyx12 ran although every x12 rule is ignored")

    monkeypatch.setattr(x12n_document, "x12n_document", explode)
    result = check(_write(tmp_path, HARBOR.read_text()), selection=RuleSelection(ignore=frozenset({"x12"})))
    assert _x12(result.findings) == []
    assert [f.rule for f in _x12(check(HARBOR).findings)] == ["x12-not-validated"]  # the stub is in place


def test_check_still_runs_the_rules_when_validation_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pyx12 import x12n_document

    def explode(*args: object, **kwargs: object) -> bool:
        raise MemoryError

    clean = check(HARBOR)
    monkeypatch.setattr(x12n_document, "x12n_document", explode)
    result = check(_write(tmp_path, HARBOR.read_text()))
    assert [f.rule for f in _x12(result.findings)] == ["x12-not-validated"]
    assert result.summary.encounters == 4
    assert result.summary.warnings == clean.summary.warnings + 1


def test_rules_and_rule_commands_document_the_x12_family() -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["rules"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0
    for rule in X12_RULES:
        assert rule.slug in listed.output
    shown = runner.invoke(app, ["rule", "x12-envelope"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0
    assert "IEA02" in shown.output
    assert "‹where›" in shown.output
