"""scripts/build_icd10cm_table.py reads an order-file zip only when it is the expected one: checksums and counts."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import io
import sys
import zipfile
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

from .conftest import order_line

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_icd10cm_table.py"

ROWS = [
    order_line(1, "M54", False, "Dorsalgia", "Dorsalgia"),
    order_line(2, "M545", False, "Low back pain", "Low back pain"),
    order_line(3, "M5450", True, "Low back pain, unspecified", "Low back pain, unspecified"),
    order_line(4, "U099", True, "Post COVID-19 condition, unspecified", "Post COVID-19 condition, unspecified"),
]


def _addenda(headers: int, codes: int) -> str:
    """The closing counts of an order addenda file, as CMS writes them (previous file first, then this one)."""
    return (
        "Add:         1 U099    Post COVID-19 condition, unspecified\r\n\r\nHeaders\r\n"
        f"  22737 headers in icd10cm_order_2021jan.txt\r\n  {headers:5d} headers in icd10cm_order_2022.txt\r\n"
        "      1 additions\r\n\r\nCodes\r\n"
        f"  72621 codes in icd10cm_order_2021jan.txt\r\n  {codes:5d} codes in icd10cm_order_2022.txt\r\n"
        "      1 additions\r\n"
    )


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_icd10cm_table", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def _zip(folder: Path, addenda: str) -> tuple[Path, str, str]:
    order = ("\r\n".join(ROWS) + "\r\n").encode("ascii")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Code Descriptions/icd10cm_order_2022.txt", order)
        archive.writestr("Code Descriptions/icd10cm_order_addenda_2022.txt", addenda)
    path = folder / "cms_2022_dx.zip"
    path.write_bytes(buffer.getvalue())
    return path, hashlib.sha256(buffer.getvalue()).hexdigest(), hashlib.sha256(order).hexdigest()


def _release(script: ModuleType, zip_sha: str, order_sha: str) -> object:
    return replace(script.ORDER_FILES["fy2022-april"], zip_sha256=zip_sha, order_sha256=order_sha,
                   data_effective=dt.date(2022, 4, 1))


def test_reads_the_order_file_when_checksums_and_the_addenda_counts_agree(script: ModuleType, tmp_path: Path) -> None:
    _, zip_sha, order_sha = _zip(tmp_path, _addenda(headers=2, codes=2))
    rows = script._order_zip_rows(_release(script, zip_sha, order_sha), tmp_path)
    assert rows == [("M54", False, "Dorsalgia"), ("M545", False, "Low back pain"),
                    ("M5450", True, "Low back pain, unspecified"),
                    ("U099", True, "Post COVID-19 condition, unspecified")]


def test_the_counts_are_this_files_not_the_previous_ones(script: ModuleType) -> None:
    assert script._stated_counts(_addenda(headers=22776, codes=72748)) == {"headers": 22776, "codes": 72748}


def test_an_addenda_with_any_addition_deletion_or_revision_says_codes_changed(script: ModuleType) -> None:
    assert script._stated_changes(_addenda(headers=2, codes=2)) == 2  # "1 additions" under Headers and Codes
    nothing = "Headers\r\n      0 additions\r\n      0 deletions\r\n      0 revisions\r\nCodes\r\n      0 additions\r\n"
    assert script._stated_changes(nothing) == 0


def test_refuses_a_zip_that_is_not_the_expected_one(script: ModuleType, tmp_path: Path) -> None:
    _, _, order_sha = _zip(tmp_path, _addenda(headers=2, codes=2))
    with pytest.raises(SystemExit, match="SHA-256"):
        script._order_zip_rows(_release(script, "0" * 64, order_sha), tmp_path)


def test_refuses_an_order_file_whose_counts_differ_from_its_addenda(script: ModuleType, tmp_path: Path) -> None:
    """A truncated or mixed-up order file: its addenda say 3 codes, the file has 2."""
    _, zip_sha, order_sha = _zip(tmp_path, _addenda(headers=2, codes=3))
    with pytest.raises(SystemExit, match="state"):
        script._order_zip_rows(_release(script, zip_sha, order_sha), tmp_path)


def test_a_missing_zip_says_where_to_get_it(script: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"cms\.gov/files/zip/2022-code-descriptions") as raised:
        script._order_zip_rows(script.ORDER_FILES["fy2022-april"], tmp_path)
    assert "github.com/dewittpe/medicalcoder/blob/" in str(raised.value)
