"""Re-exporting a claim read from an 837P writes back what it billed, or refuses and names what would be lost
(issue 11): SBR09, the 2310A referring provider, REF*D9/G2/6R, CLM and SV1 indicators, no invented REF*EA, and a
refusal for 2320/2330 other-payer loops and every other segment the encounter cannot carry."""

from __future__ import annotations

import re

import pytest

from cleanclaim.formats.x12_837p import ClaimFileError, read_837p, write_837p

from .conftest import FIXTURES, WRITER_OPTIONS, pyx12_errors

HARBOR = FIXTURES / "harbor_pt_claims.837"


def harbor() -> str:
    """The fixture on one line (its segments end with "~" and a line break)."""
    return HARBOR.read_text().replace("~\n", "~")

# CLM-1001 of the HARBOR fixture with what a real file carries beside the billed lines (6 segments added).
EDITS = [
    ("SBR*P*18*******MB~", "SBR*P*18*******16~"),
    ("NM1*PR*2*Example Medicare Contractor*****PI*12345~",
     "NM1*PR*2*Example Medicare Contractor*****PI*12345~REF*G2*BILL99~"),
    ("CLM*CLM-1001*255***11:B:1*Y*A*Y*Y~", "CLM*CLM-1001*255***11:B:7*Y*A*Y*I*P~"),
    ("REF*EA*PT-0001~HI*ABK:M6281*ABF:Z9181*ABF:R262~",
     "REF*D9*TRACE123~REF*EA*PT-0001~HI*ABK:M6281*ABF:Z9181*ABF:R262~NM1*DN*1*Referrer*Rita****XX*1245319599~"
     "REF*G2*REF77~"),
    ("PRV*PE*PXC*225100000X~", "PRV*PE*PXC*225100000X~REF*G2*RND55~"),
    ("SV1*HC:97161:GP*120*UN*1***1:3~DTP*472*D8*20260302~",
     "SV1*HC:97161:GP*120*UN*1***1:3**Y~DTP*472*D8*20260302~REF*6R*LINE0001~"),
    ("SE*58*0001~", "SE*64*0001~"),
]


def _rich() -> str:
    text = harbor()
    for old, new in EDITS:
        assert text.count(old) >= 1, old
        text = text.replace(old, new, 1)
    return text


def test_what_the_claim_carries_is_read() -> None:
    result = read_837p(_rich())
    assert result.errors == []
    claim = result.encounters[0]
    assert claim.claim_filing_code == "16"
    assert claim.references == {"2010BB": {"G2": "BILL99"}, "2300": {"D9": "TRACE123", "EA": "PT-0001"},
                                "2310A": {"G2": "REF77"}, "2310B": {"G2": "RND55"}}
    assert claim.referring_provider is not None
    assert (claim.referring_provider.npi, claim.referring_provider.last_name) == ("1245319599", "Referrer")
    assert claim.claim_elements == {"CLM05-3": "7", "CLM06": "Y", "CLM07": "A", "CLM08": "Y", "CLM09": "I",
                                    "CLM10": "P"}
    assert claim.lines[0].references == {"6R": "LINE0001"}
    assert claim.lines[0].line_elements == {"SV109": "Y"}
    assert claim.x12_not_carried == []


def test_read_write_read_keeps_it_and_the_file_is_valid_x12() -> None:
    first = read_837p(_rich()).encounters
    written = write_837p(first, **WRITER_OPTIONS)
    assert pyx12_errors(written) == []
    for segment in ("SBR*P*18*******16~", "REF*G2*BILL99~", "CLM*CLM-1001*255***11:B:7*Y*A*Y*I*P~",
                    "REF*D9*TRACE123~", "NM1*DN*1*Referrer*Rita****XX*1245319599~", "REF*G2*REF77~",
                    "REF*G2*RND55~", "SV1*HC:97161:GP*120*UN*1***1:3**Y~", "REF*6R*LINE0001~"):
        assert segment in written, segment
    again = read_837p(written)
    assert again.errors == []
    # the writer prints the payer's name in capitals, as claim documents do (Encounter.payer_display)
    expected = [e.model_copy(update={"payer_name": e.payer_display}).model_dump() for e in first]
    assert [e.model_dump() for e in again.encounters] == expected


def test_no_ref_ea_is_invented_for_a_claim_that_had_none() -> None:
    text = harbor().replace("CLM*CLM-1003*97.5***11:B:1*Y*A*Y*Y~REF*EA*PT-0002~",
                                      "CLM*CLM-1003*97.5***11:B:1*Y*A*Y*Y~").replace("SE*58*0001~", "SE*57*0001~")
    read = read_837p(text)
    assert read.errors == []
    dependent = next(e for e in read.encounters if e.id == "CLM-1003")
    assert dependent.references == {}
    written = write_837p([dependent], **WRITER_OPTIONS)
    assert "REF*EA" not in written
    assert pyx12_errors(written) == []


def test_a_yaml_encounter_still_gets_its_patient_id_as_ref_ea() -> None:
    from .conftest import encounter

    assert "REF*EA*P1~" in write_837p([encounter()], **WRITER_OPTIONS)


def test_other_payer_loops_are_refused_by_name() -> None:
    cob = ("SBR*S*01*GRP99******CI~OI***Y*P**Y~NM1*IL*1*Example*Bob****MI*OTHER123~"
           "NM1*PR*2*Other Health Plan*****PI*99999~")
    text = harbor().replace("HI*ABK:M6281*ABF:R262~", "HI*ABK:M6281*ABF:R262~" + cob, 1)
    text = text.replace("SE*58*0001~", "SE*62*0001~")
    read = read_837p(text)
    assert read.errors == []
    second = next(e for e in read.encounters if e.id == "CLM-1002")
    assert second.x12_not_carried == ["2320 SBR", "2320 OI", "2330 NM1*IL", "2330 NM1*PR"]
    with pytest.raises(ClaimFileError) as refused:
        write_837p(read.encounters, **WRITER_OPTIONS)
    assert list(refused.value.problems) == ["CLM-1002"]
    (problem,) = refused.value.problems["CLM-1002"]
    assert "would lose: 2320 SBR, 2320 OI, 2330 NM1*IL, 2330 NM1*PR" in problem
    # the claims without them are still written
    assert write_837p([e for e in read.encounters if e.id != "CLM-1002"], **WRITER_OPTIONS)


@pytest.mark.parametrize(("old", "new", "named"), [
    ("HL*1**20*1~PRV*BI*PXC*225100000X~NM1*85*2*Harbor Physical Therapy*****XX*1234567893~N3*1 Main St*Suite 200~"
     "N4*Springfield*IL*627011234~REF*EI*123456789~",
     "HL*1**20*1~PRV*BI*PXC*225100000X~NM1*85*2*Harbor Physical Therapy*****XX*1234567893~N3*1 Main St*Suite 200~"
     "N4*Springfield*IL*627011234~REF*EI*123456789~NM1*87*2~N3*PO Box 9~N4*Springfield*IL*627011234~", "2010AB NM1*87"),
    ("REF*EA*PT-0001~HI*ABK:M6281*ABF:Z9181*ABF:R262~",
     "REF*EA*PT-0001~HI*ABK:M6281*ABF:Z9181*ABF:R262~NM1*77*2*Harbor Annex*****XX*1234567893~", "2310C NM1*77"),
    ("CLM*CLM-1001*255***11:B:1*Y*A*Y*Y~", "CLM*CLM-1001*255***11:B:1*Y*A*Y*Y**AA:::IL~", "2300 CLM11"),
    ("REF*EA*PT-0001~HI*ABK:M6281*ABF:Z9181*ABF:R262~",
     "REF*EA*PT-0001~HI*ABK:M6281*ABF:Z9181*ABF:R262~NM1*P3*1*Primary*Pat****XX*1245319599~REF*G2*PCP1~",
     "2310A (P3) REF*G2"),
    ("REF*EA*PT-0001~HI*ABK:M6281*ABF:Z9181*ABF:R262~",
     "REF*EA*PT-0001~HI*ABK:M6281*ABF:Z9181*ABF:R262~NM1*DN*1*Referrer*Rita****24*123456789~",
     "2310A NM1*DN"),
    ("CLM*CLM-1001*255***11:B:1*Y*A*Y*Y~", "CLM*CLM-1001*255***11:B:1*Y*A*Y*Y~DTP*431*D8*20260201~",
     "2300 DTP*431"),
])
def test_segments_without_a_field_are_named_in_the_refusal(old: str, new: str, named: str) -> None:
    text = harbor()
    assert old in text
    read = read_837p(text.replace(old, new, 1))
    first = read.encounters[0]
    assert named in first.x12_not_carried
    with pytest.raises(ClaimFileError, match=re.escape(named)):
        write_837p([first], **WRITER_OPTIONS)


def test_a_file_cleanclaim_wrote_reads_back_with_nothing_uncarried_and_writes_again() -> None:
    from .conftest import multi_claim_encounters

    first = write_837p(multi_claim_encounters(), **WRITER_OPTIONS)
    read = read_837p(first)
    assert read.errors == []
    assert all(e.x12_not_carried == [] for e in read.encounters)
    assert write_837p(read.encounters, **WRITER_OPTIONS) == first


def test_the_hand_written_fixture_reads_with_nothing_uncarried() -> None:
    read = read_837p(HARBOR)
    assert [e.x12_not_carried for e in read.encounters] == [[], [], [], []]
