"""Rules cite the document that states them (issue 14 item 12): a CMS manual section, an NCD, the CFR, the Act or a
final rule, not a blog or a vendor page."""

from __future__ import annotations

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
