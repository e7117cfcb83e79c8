"""Rules cite the document that states them (issue 14 item 12): a CMS manual section, an NCD, the CFR, the Act or a
final rule, not a blog or a vendor page."""

from __future__ import annotations

import csv
from importlib.resources import files

import pytest

from cleanclaim.rules import all_rules, get_rule
from cleanclaim.rules.registry import Rule

PRIMARY = ("CMS Pub. 100-", "NCD ", "CFR", "Social Security Act", "SSA s", "final rule", " FR ", "NCCI Policy Manual")
NOT_PRIMARY = ("Palmetto GBA: E/M", "SBIRT Oregon", "codingahead", "secondary sources", "prombs", "postacutetools",
               "APA Services HBAI guide")


@pytest.mark.parametrize("slug", ["CC303", "CC307", "CC804", "CC702", "CC411", "CC802",
                                  "CC206", "CC703", "CC704", "CC706", "CC711", "CC712", "CC504", "CC803"])
def test_rule_cites_a_primary_document(slug: str) -> None:
    rule = get_rule(slug)
    cited = [*rule.references, rule.doc().sections["References"]]
    assert any(marker in text for text in cited for marker in PRIMARY), cited
    assert not any(marker in text for text in cited for marker in NOT_PRIMARY), cited


# Blogs and vendor pages once cited by rules: a rule cites the document that states its fact (issue 14), never these.
BLOGS = ("legalclarity", "mrahis", "healthcare-wiki", "ChiroFree", "medicarepaymentandreimbursement", "SBIRT Oregon",
         "Columbia compliance newsletter", "whatismedicalinsurancebilling", "codingahead")


@pytest.mark.parametrize("rule", all_rules(), ids=lambda rule: rule.slug)
def test_no_rule_cites_a_blog(rule: Rule) -> None:
    cited = " ".join([*rule.references, rule.doc().sections.get("References", "")])
    assert not [blog for blog in BLOGS if blog.lower() in cited.lower()], cited


def test_no_payer_profile_setting_cites_a_blog() -> None:
    # the Medicare profile's references reach findings (code-not-covered, visit-frequency-limit): the same bar
    text = (files("cleanclaim.payers") / "medicare.yaml").read_text(encoding="utf-8")
    assert not [blog for blog in BLOGS if blog.lower() in text.lower()]


# Blogs, vendor pages and summaries once cited by the bundled data, the code book and the payer profiles (issue 14
# item 12): none of them may come back, wherever a source is named.
RETIRED_SOURCES = (*BLOGS, "acms.org", "decisionhealth", "chestphysician", "advantabiometrics", "medicalbillingcertify",
                   "iframe.ai", "medcoder", "lifecare-works", "UTHealth", "ideafit", "Healthie", "AAFP")

# What a primary source looks like in a data file: a CMS file or manual, an NCD, a regulation, a statute, a final rule
# (its CMS number or FR citation), the AMA's CPT code set, or a MAC (the contractor's own document).
PRIMARY_DATA = ("PPRRVU", "GPCI20", "CMS Pub", "Pub. 100-", "NCD ", "CFR", "Pub. L.", "Social Security Act",
                "final rule", "CMS-1", " FR ", "MCR_MUE", "ccipra", "CPT", "HCPCS", "CMS ", "CR ",
                "First Coast", "Noridian", "NGS", "Palmetto", "Novitas")


def _bundled(name: str) -> str:
    return (files("cleanclaim.refdata") / "bundled" / name).read_text(encoding="utf-8")


BUNDLED = ("conversion_factors.csv", "cost_sharing_waived.csv", "facility_pos.csv", "gpci.csv", "mue.csv", "ptp.csv",
           "rvu.csv")


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_table_names_the_cms_document_it_comes_from(name: str) -> None:
    header = "\n".join(line for line in _bundled(name).splitlines() if line.startswith("#"))
    source = header[header.index("# source"):]
    assert any(marker in source for marker in PRIMARY_DATA), source
    assert not [gone for gone in RETIRED_SOURCES if gone.lower() in _bundled(name).lower()]


@pytest.mark.parametrize("name", [n for n in BUNDLED if n != "facility_pos.csv"])
def test_every_bundled_row_names_a_primary_source_or_says_secondary(name: str) -> None:
    rows = csv.DictReader(line for line in _bundled(name).splitlines() if not line.startswith("#"))
    for row in rows:
        source = row["source"]
        assert source, row
        assert "secondary" in source or any(marker in source for marker in PRIMARY_DATA), row


def test_no_secondary_row_poses_as_primary() -> None:
    # a vendor page may stand in for a CMS file only when the row says so
    for name in BUNDLED:
        if name == "facility_pos.csv":
            continue
        for row in csv.DictReader(line for line in _bundled(name).splitlines() if not line.startswith("#")):
            if any(site in row["source"] for site in ("payerready", "APTA")):
                assert "secondary" in row["source"], row


def test_code_book_references_cite_primary_documents() -> None:
    text = (files("cleanclaim.codebook") / "codes.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    assert rows
    for row in rows:
        reference = row["reference"]
        assert not [gone for gone in (*RETIRED_SOURCES, "APA Services") if gone.lower() in reference.lower()], row
        assert any(marker in reference for marker in PRIMARY_DATA), row
        # an association's or vendor's page may be named only beside a primary one and labelled as such
        if any(other in reference for other in ("AAP ", "AAP:", "AAPC")):
            assert "secondary" in reference, row


@pytest.mark.parametrize("profile", ["commercial.yaml", "medicaid.yaml", "medicare.yaml", "tricare.yaml"])
def test_no_payer_profile_cites_a_retired_source(profile: str) -> None:
    text = (files("cleanclaim.payers") / profile).read_text(encoding="utf-8")
    assert not [gone for gone in RETIRED_SOURCES if gone.lower() in text.lower()]


def test_no_rule_data_file_cites_a_retired_source() -> None:
    # the rules' data files (modifiers, biller sources and periods, same-day conflicts ...) name sources that reach
    # findings: the same bar as the bundled data
    data = files("cleanclaim.rules") / "data"
    for entry in data.iterdir():
        if entry.name.endswith((".csv", ".yaml", ".md")):
            text = entry.read_text(encoding="utf-8").lower()
            assert not [gone for gone in RETIRED_SOURCES if gone.lower() in text], entry.name
