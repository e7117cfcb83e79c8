"""scripts/extract_hcpcs_modifiers.py: the modifier records of a CMS annual HCPCS file are read by its record layout
and compared with the bundled modifier list.

The lines below are built in the file's 320-character layout from records of CMS's HCPC2026_JAN_ANWEB_01122026.txt
(the copy cited in modifiers.csv; HCPCS Level II text is CMS's, public domain), with the fields the script does not
read left blank: two modifier records (one terminated), a modifier's continuation line and a procedure code record,
which the reader skips. test_records_have_the_cms_layout rebuilds the file's JG record with its coverage code.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).parents[2] / "scripts" / "extract_hcpcs_modifiers.py"


def _record(code: str, record_id: str, long: str, short: str, dates: str) -> str:
    """A 320-character record: code 1-5, sequence 6-10, record id 11, long description 12-91, short description
    92-119, dates from 269 (added, action effective, termination), action code 293."""
    line = f"{code:>5}00100{record_id}{long:<80}{short:<28}".ljust(268) + f"{dates:<24}N"
    return line.ljust(320)


JG = _record("JG", "7", "Drug or biological acquired with 340b drug pricing program discount, reported",
             "340b acquired drug", "201801012025010120241231")
AA = _record("AA", "7", "Anesthesia services performed personally by anesthesiologist", "Anesthesia perf by anesgst",
             "1984010120010101")
AB_2 = "   AB002008" + "physician/npp order for non-acute hearing assessment unrelated to".ljust(309)
A0021 = _record("A0021", "3", "Ambulance service, outside state per mile, transport (medicaid only)",
                "Outside state ambulance serv", "1985010119960910")


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("extract_hcpcs_modifiers", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # the script's dataclass looks its module up by name
    spec.loader.exec_module(module)
    return module


def test_records_have_the_cms_layout() -> None:
    # the positions the script reads, checked on the file's own JG record (320 characters, dates from 269)
    real_jg = ("   JG001007Drug or biological acquired with 340b drug pricing program discount, reported   "
               "340b acquired drug" + " " * 120 + "C" + " " * 38 + "201801012025010120241231N" + " " * 27)
    assert len(real_jg) == 320
    assert real_jg[268:292] == JG[268:292] and real_jg[:119] == JG[:119]


def test_modifier_records_are_read_and_the_termination_becomes_the_next_day(script: ModuleType) -> None:
    found = script.read_modifiers("\n".join([AA, AB_2, JG, A0021]))
    assert [(m.modifier, m.added, m.terminated, m.short_description) for m in found] == [
        ("AA", dt.date(1984, 1, 1), None, "Anesthesia perf by anesgst"),
        ("JG", dt.date(2018, 1, 1), dt.date(2025, 1, 1), "340b acquired drug"),
    ]


def test_a_file_without_modifier_records_is_refused(script: ModuleType) -> None:
    with pytest.raises(ValueError, match="no modifier records"):
        script.read_modifiers(A0021)
    with pytest.raises(ValueError, match="not a CCYYMMDD date"):
        script.read_modifiers(JG.replace("20241231", "2024-12-"))


def test_compare_names_what_the_list_lacks_or_dates_differently(script: ModuleType) -> None:
    found = script.read_modifiers("\n".join([AA, JG]))
    bundled = ("# header\nmodifier,level,meaning,source,effective,terminated\n"
               "AA,hcpcs,our words,CMS,1984-01-01,\nJG,hcpcs,our words,CMS,2018-01-01,\nZZ,hcpcs,x,y,2000-01-01,\n"
               "25,cpt,our words,CPT,,\n")
    assert script.compare(found, bundled) == ["terminated JG: list -, file 2025-01-01",
                                              "not in the file: ZZ (listed as hcpcs)"]
    assert script.compare(found, bundled.replace("AA,hcpcs,our words,CMS,1984-01-01,\n", "")) == [
        "missing AA: added 1984-01-01 (CMS short descriptor: Anesthesia perf by anesgst)",
        "terminated JG: list -, file 2025-01-01", "not in the file: ZZ (listed as hcpcs)"]


def test_the_bundled_list_agrees_with_the_2026_records_read_here(script: ModuleType) -> None:
    bundled = script.MODIFIERS.read_text(encoding="utf-8")
    found = script.read_modifiers("\n".join([AA, JG]))
    assert [line for line in script.compare(found, bundled) if not line.startswith("not in the file")] == []
