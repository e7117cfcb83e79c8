"""Rules cite the document that states them (issue 14 item 12): a CMS manual section, an NCD, the CFR, the Act or a
final rule, not a blog or a vendor page."""

from __future__ import annotations

import pytest

from cleanclaim.rules import get_rule

PRIMARY = ("CMS Pub. 100-", "NCD ", "CFR", "Social Security Act", "SSA s", "final rule", " FR ")
NOT_PRIMARY = ("Palmetto GBA: E/M", "SBIRT Oregon", "codingahead", "secondary sources", "prombs", "postacutetools",
               "APA Services HBAI guide")


@pytest.mark.parametrize("slug", ["CC303", "CC307", "CC804", "CC702", "CC411", "CC802",
                                  "CC206", "CC703", "CC704", "CC706"])
def test_rule_cites_a_primary_document(slug: str) -> None:
    rule = get_rule(slug)
    cited = [*rule.references, rule.doc().sections["References"]]
    assert any(marker in text for text in cited for marker in PRIMARY), cited
    assert not any(marker in text for text in cited for marker in NOT_PRIMARY), cited
