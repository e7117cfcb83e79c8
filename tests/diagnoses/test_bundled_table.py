"""The shipped table: its sidecar tells the truth about it, and it agrees with simple-icd-10-cm."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import random
from importlib import resources
from importlib.abc import Traversable

import pytest

from cleanclaim.diagnoses import DiagnosisStatus, format_diagnosis, lookup_diagnosis, releases

FOLDER = resources.files("cleanclaim.codebook").joinpath("icd10cm")
DATE = dt.date(2026, 6, 1)


def _meta() -> tuple[dict[str, object], Traversable]:
    metas = [entry for entry in FOLDER.iterdir() if entry.name.endswith(".meta.json")]
    assert len(metas) == 1
    meta = json.loads(metas[0].read_text(encoding="utf-8"))
    return meta, FOLDER.joinpath(str(meta["data_file"]))


def test_sidecar_names_source_release_window_and_licence() -> None:
    meta, data = _meta()
    payload = data.read_bytes()
    assert len(payload) < 3_000_000
    assert hashlib.sha256(payload).hexdigest() == meta["sha256"]
    assert meta["fiscal_year"] == 2026
    assert (meta["valid_from"], meta["valid_to"]) == ("2025-10-01", "2026-09-30")
    assert "simple-icd-10-cm 1.5" in str(meta["source"])
    assert "public domain" in str(meta["licence"])
    assert "April 1, 2026" in str(meta["cms_release"])
    dt.date.fromisoformat(str(meta["built"]))
    rows = gzip.decompress(payload).decode("utf-8").splitlines()
    assert rows[0] == "code\tbillable\tdescription"
    assert len(rows) - 1 == meta["codes"]
    assert sum(1 for row in rows[1:] if row.split("\t")[1] == "1") == meta["billable"]
    (release,) = releases()
    assert (release.codes, release.billable, release.fiscal_year) == (meta["codes"], meta["billable"], 2026)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # simple-icd-10-cm uses importlib's legacy API
def test_shipped_table_agrees_with_simple_icd_10_cm() -> None:
    import simple_icd_10_cm as icd  # type: ignore[import-untyped]  # dev extra, tests only
    _, data = _meta()
    rows = [row.split("\t") for row in gzip.decompress(data.read_bytes()).decode("utf-8").splitlines()[1:]]
    library_codes = {c for c in icd.get_all_codes(with_dots=True) if icd.is_category_or_subcategory(c)}
    assert {format_diagnosis(code) for code, _, _ in rows} == library_codes

    sample = random.Random(2026).sample(rows, 400) + [r for r in rows if r[0] in {"M6281", "M62", "E11", "Z713"}]
    for code, billable, description in sample:
        dotted = format_diagnosis(code)
        assert icd.is_leaf(dotted) == (billable == "1"), dotted
        assert " ".join(icd.get_description(dotted).split()) == description, dotted
        found = lookup_diagnosis(dotted, DATE)
        expected = DiagnosisStatus.BILLABLE if icd.is_leaf(dotted) else DiagnosisStatus.NOT_BILLABLE
        assert found.status is expected, dotted
        if not icd.is_leaf(dotted):
            assert found.example_child is not None
            assert icd.is_descendant(found.example_child, dotted)
