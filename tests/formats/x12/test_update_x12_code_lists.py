"""scripts/update_x12_code_lists.py: codes and Start/Stop dates are read from a saved copy of the X12 pages and
merged into the bundled carc.csv / rarc.csv without touching cleanclaim's own columns.

The rows below have the markup of the x12.org code-list table (as in the saved page cited in carc.csv); the
description cells hold placeholder words, not X12's text.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).parents[3] / "scripts" / "update_x12_code_lists.py"

PAGE = """<table id="codelist"><tbody>
<tr class="prod-set current"><td class="code">1</td><td class="description">placeholder<span class="dates"><br>\
Start: 01/01/1995</span></td></tr>
<tr class="prod-set deactivated"><td class="code">15</td><td class="description">placeholder<span class="dates"><br>\
Start: 01/01/1995 | Stop: 05/01/2018 | Last Modified: 11/01/2017</span></td></tr>
<tr class="prod-set current"><td class="code">P32</td><td class="description">placeholder<span class="dates"><br>\
Start: 08/01/2022</span></td></tr>
</tbody></table>"""

BUNDLED = """# comment header naming the source
code,kind,start,stop,description
1,patient-share,1995-01-01,,Deductible: our words.
15,denial,1995-01-01,,Authorization: our words.
W9,,2013-06-02,2014-07-01,
"""


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("update_x12_code_lists", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_gives_each_code_its_dates(script: ModuleType) -> None:
    assert script.carc_from_html(PAGE) == {"1": ("1995-01-01", ""), "15": ("1995-01-01", "2018-05-01"),
                                           "P32": ("2022-08-01", "")}


def test_a_deactivated_row_without_a_stop_date_is_refused(script: ModuleType) -> None:
    broken = PAGE.replace(" | Stop: 05/01/2018", "")
    with pytest.raises(ValueError, match="15 is deactivated but has no Stop date"):
        script.carc_from_html(broken)


def test_a_page_without_the_table_is_refused(script: ModuleType) -> None:
    with pytest.raises(ValueError, match="no CARC rows"):
        script.carc_from_html("<html><body>Access denied</body></html>")


def test_merge_takes_the_dates_keeps_our_words_and_keeps_codes_the_capture_lacks(script: ModuleType) -> None:
    text, changes = script.merge(BUNDLED, script.carc_from_html(PAGE), "carc.csv")
    assert text.splitlines() == [
        "# comment header naming the source",
        "code,kind,start,stop,description",
        "1,patient-share,1995-01-01,,Deductible: our words.",
        "15,denial,1995-01-01,2018-05-01,Authorization: our words.",
        "P32,,2022-08-01,,",
        "W9,,2013-06-02,2014-07-01,",
    ]
    assert changes == ["carc.csv: 15 dates 1995-01-01/- -> 1995-01-01/2018-05-01",
                       "carc.csv: added P32 (start 2022-08-01)",
                       "carc.csv: W9 is not in the capture; kept as bundled"]


def test_rarc_rows_are_read_from_the_row_text(script: ModuleType) -> None:
    csv_text = ('code,description,last_modified\n'
                '"N411","placeholder.Start: 08/01/2007 | Last Modified: 07/01/2016Notes: (Reactivated 7/1/2016)",x\n'
                '"N102","placeholder.Start: 10/31/2001 | Stop: 07/01/2016 | Last Modified: 11/01/2013",x\n')
    assert script.rarc_from_csv(csv_text) == {"N411": ("2007-08-01", ""), "N102": ("2001-10-31", "2016-07-01")}
    with pytest.raises(ValueError, match="not a RARC"):
        script.rarc_from_csv('code,description\n"45","placeholder.Start: 01/01/1995"\n')
