"""Export to files: what reaches the disk when claims, paths or the disk itself are wrong, for every format."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from fhir.resources.R4B.bundle import Bundle
from typer.testing import CliRunner

from cleanclaim.cli import app
from cleanclaim.errors import InputError
from cleanclaim.formats import files as files_module
from cleanclaim.formats.export import ExportFormat, export_encounters, pdf_file_names
from cleanclaim.formats.files import write_file
from cleanclaim.model import Encounter
from tests.formats.pdf.conftest import pt_visit_data

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
CHARGE_MASTER = EXAMPLES / "practice" / "charge-master.csv"
runner = CliRunner()


def visit_data() -> dict[str, Any]:
    """The PDF tests' synthetic visit, with the phone an 837P submitter contact needs."""
    data = pt_visit_data()
    data["billing_provider"]["phone"] = "2175550100"
    return data


def encounter(number: int = 1, **changes: Any) -> Encounter:
    data = visit_data()
    data.update({"id": f"E-{number}", "claim_id": f"CLM-{number:04d}", **changes})
    return Encounter.model_validate(data)


def without_charges(number: int) -> Encounter:
    data = visit_data()
    data.update(id=f"E-{number}", claim_id=f"CLM-{number:04d}")
    for line in data["lines"]:
        line["charge"] = None
    return Encounter.model_validate(data)


def target(tmp_path: Path, fmt: ExportFormat) -> Path:
    return tmp_path / {"837p": "claims.837", "fhir": "claims.json", "cms1500": "claim.pdf",
                       "superbill": "superbill.pdf"}[fmt]


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def pdf_text(path: Path) -> str:
    document = pdfium.PdfDocument(path)
    try:
        return " ".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


# ------------------------------------------------------------------------------------ nothing to write


@pytest.mark.parametrize("fmt", ["837p", "fhir", "cms1500", "superbill"])
def test_when_no_claim_can_be_written_no_file_is_written_and_every_reason_is_given(
        tmp_path: Path, fmt: ExportFormat) -> None:
    out = target(tmp_path, fmt)
    with pytest.raises(InputError) as caught:
        export_encounters([without_charges(1), without_charges(2)], fmt, out)
    message = str(caught.value)
    assert message.startswith(f"{out}: nothing written")
    assert "encounter E-1" in message
    assert "encounter E-2" in message
    assert "lines[1].charge" in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["837p", "fhir", "cms1500", "superbill"])
def test_no_encounters_at_all_write_nothing(tmp_path: Path, fmt: ExportFormat) -> None:
    with pytest.raises(InputError, match="nothing written"):
        export_encounters([], fmt, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_of_pdfs_is_not_created_when_no_pdf_can_be_drawn(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nothing written"):
        export_encounters([without_charges(1), without_charges(2)], "cms1500", tmp_path / "pdfs")
    assert not (tmp_path / "pdfs").exists()


def test_cli_says_nothing_was_written_and_exits_2_when_every_encounter_failed(tmp_path: Path) -> None:
    out = tmp_path / "bundle.json"
    # the example has services but no charges, and no charge master is given: nothing can be billed
    status, output = run("export", str(EXAMPLES / "pt-visit-97535.yaml"), "-f", "fhir", "-o", str(out))
    assert status == 2
    assert "nothing written" in output
    assert "wrote" not in output
    assert not out.exists()


# ------------------------------------------------------------------------------------ one bad claim of many


@pytest.mark.parametrize("fmt", ["837p", "fhir"])
def test_one_claim_that_cannot_be_written_is_left_out_and_reported_the_rest_written(
        tmp_path: Path, fmt: ExportFormat) -> None:
    out = target(tmp_path, fmt)
    result = export_encounters([encounter(1), without_charges(2), encounter(3)], fmt, out)
    assert [error.encounter for error in result.errors] == ["E-2"]
    assert "lines[1].charge" in str(result.errors[0])
    ((written),) = result.written
    assert written.path == out
    assert [e.id for e in written.encounters] == ["E-1", "E-3"]
    text = out.read_text()
    assert "CLM-0001" in text
    assert "CLM-0003" in text
    assert "CLM-0002" not in text


def test_one_pdf_that_cannot_be_drawn_is_reported_and_the_others_written(tmp_path: Path) -> None:
    result = export_encounters([encounter(1), without_charges(2), encounter(3)], "cms1500", tmp_path / "pdfs")
    assert [error.encounter for error in result.errors] == ["E-2"]
    assert sorted(p.name for p in (tmp_path / "pdfs").iterdir()) == ["CLM-0001-cms1500.pdf", "CLM-0003-cms1500.pdf"]


def test_cli_writes_the_good_claims_and_exits_2_for_the_bad_one(tmp_path: Path) -> None:
    source = tmp_path / "two.json"
    good, bad = visit_data(), visit_data()
    bad.update(id="E-BAD", claim_id="CLM-BAD", payer_id=None)
    source.write_text(json.dumps({"encounters": [good, bad]}))
    out = tmp_path / "claims.837"
    status, output = run("export", str(source), "-f", "837p", "-o", str(out))
    assert status == 2
    assert "encounter E-BAD" in output
    assert "payer_id" in output
    assert f"wrote {out} (claim CLM-0001, encounter E-PT-1)" in " ".join(output.split())
    assert out.read_text().count("CLM*") == 1


# ------------------------------------------------------------------------------------ the examples, FHIR


def test_the_examples_folder_exports_as_one_valid_fhir_bundle(tmp_path: Path) -> None:
    # three examples share billing NPI 1234567893, one of them under another practice's name and address
    out = tmp_path / "examples.json"
    status, output = run("export", str(EXAMPLES), "-f", "fhir", "-o", str(out), "--charge-master",
                         str(CHARGE_MASTER))
    assert status == 0, output
    data = json.loads(out.read_text())
    Bundle.model_validate(data)
    resources = {entry["fullUrl"]: entry["resource"] for entry in data["entry"]}
    claims = [r for r in resources.values() if r["resourceType"] == "Claim"]
    assert len(claims) == 6
    for claim in claims:
        for reference in (claim["patient"], claim["provider"], claim["insurer"], claim["insurance"][0]["coverage"],
                          *(member["provider"] for member in claim["careTeam"])):
            assert reference["reference"] in resources
    names_under_npi = {resources[c["provider"]["reference"]]["name"] for c in claims
                       if any(i["value"] == "1234567893" for i in resources[c["provider"]["reference"]]["identifier"])}
    assert names_under_npi == {"Harbor Physical Therapy", "Springfield Family Medicine"}


# ------------------------------------------------------------------------------------ output paths


@pytest.mark.parametrize("fmt", ["837p", "fhir", "cms1500"])
def test_output_that_is_a_folder_is_an_error_naming_it(tmp_path: Path, fmt: ExportFormat) -> None:
    folder = tmp_path / "out.pdf" if fmt == "cms1500" else tmp_path / "out"
    folder.mkdir()
    if fmt == "cms1500":  # a folder named like a PDF is a folder: the PDF goes inside it
        result = export_encounters([encounter(1)], fmt, folder)
        assert [w.path for w in result.written] == [folder / "CLM-0001-cms1500.pdf"]
        return
    with pytest.raises(InputError) as caught:
        export_encounters([encounter(1)], fmt, folder)
    assert caught.value.file == str(folder)
    assert "is a folder" in str(caught.value)
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("fmt", ["837p", "fhir", "cms1500", "superbill"])
def test_a_missing_parent_folder_is_an_error_naming_it(tmp_path: Path, fmt: ExportFormat) -> None:
    out = tmp_path / "missing" / target(tmp_path, fmt).name
    with pytest.raises(InputError) as caught:
        export_encounters([encounter(1)], fmt, out)
    assert caught.value.file == str(out)
    assert f"the folder {tmp_path / 'missing'} does not exist" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_pdf_folder_whose_parent_is_missing_is_not_created(tmp_path: Path) -> None:
    out = tmp_path / "missing" / "pdfs"
    with pytest.raises(InputError, match="does not exist"):
        export_encounters([encounter(1), encounter(2)], "superbill", out)
    assert list(tmp_path.iterdir()) == []


def test_several_claims_to_one_pdf_name_is_an_error_and_the_existing_file_is_kept(tmp_path: Path) -> None:
    existing = tmp_path / "claims.pdf"
    existing.write_bytes(b"mine")
    with pytest.raises(InputError) as caught:
        export_encounters([encounter(1), encounter(2)], "cms1500", existing)
    assert caught.value.file == str(existing)
    assert "2 claims need 2 PDFs" in str(caught.value)
    assert existing.read_bytes() == b"mine"


def test_a_file_where_the_pdf_folder_should_be_is_an_error(tmp_path: Path) -> None:
    existing = tmp_path / "pdfs"
    existing.write_bytes(b"mine")
    with pytest.raises(InputError, match="it is a file; several PDFs need a folder"):
        export_encounters([encounter(1), encounter(2)], "superbill", existing)
    assert existing.read_bytes() == b"mine"


def test_cli_output_errors_exit_2_without_a_traceback(tmp_path: Path) -> None:
    status, output = run("export", str(EXAMPLES / "pt-visit-97535.yaml"), "-f", "837p", "-o", str(tmp_path),
                         "--charge-master", str(CHARGE_MASTER))
    assert status == 2
    assert f"{tmp_path}: cannot write here: it is a folder" in " ".join(output.split())
    assert "Traceback" not in output


# ------------------------------------------------------------------------------------ a full disk


def _disk_fills_after_half(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """os.write into files under ``folder`` writes half of what it is given once, then fails with ENOSPC."""
    real_write = os.write
    calls = {"n": 0}

    def write(descriptor: int, data: Any) -> int:
        if not os.readlink(f"/proc/self/fd/{descriptor}").startswith(str(folder)):
            return real_write(descriptor, data)
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(descriptor, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files_module.os, "write", write)


@pytest.mark.parametrize("fmt", ["837p", "fhir", "cms1500"])
def test_a_full_disk_is_an_error_naming_the_file_and_leaves_the_old_file_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: ExportFormat) -> None:
    out = target(tmp_path, fmt)
    out.write_bytes(b"the previous export")
    _disk_fills_after_half(monkeypatch, tmp_path)
    with pytest.raises(InputError) as caught:
        export_encounters([encounter(1)], fmt, out)
    assert caught.value.file == str(out)
    assert "No space left on device" in str(caught.value)
    assert out.read_bytes() == b"the previous export"
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no half-written temporary file left


def test_a_full_disk_midway_through_pdfs_keeps_the_whole_ones_and_reports_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "pdfs"
    out.mkdir()
    real_write = os.write
    written_files: list[str] = []

    def write(descriptor: int, data: Any) -> int:
        name = os.readlink(f"/proc/self/fd/{descriptor}")
        if not name.startswith(str(out)):
            return real_write(descriptor, data)
        if name not in written_files and len(written_files) >= 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if name not in written_files:
            written_files.append(name)
        return real_write(descriptor, data)

    monkeypatch.setattr(files_module.os, "write", write)
    result = export_encounters([encounter(1), encounter(2), encounter(3)], "superbill", out)
    assert [w.path.name for w in result.written] == ["CLM-0001-superbill.pdf"]
    assert [(e.encounter, e.file) for e in result.errors] == [
        ("E-2", str(out / "CLM-0002-superbill.pdf")), ("E-3", str(out / "CLM-0003-superbill.pdf"))]
    assert [p.name for p in out.iterdir()] == ["CLM-0001-superbill.pdf"]
    assert "CLM-0001" in pdf_text(out / "CLM-0001-superbill.pdf")


def test_dev_full_is_written_in_place_and_reports_the_full_disk() -> None:
    full = Path("/dev/full")
    assert full.is_char_device(), "this test needs Linux's /dev/full"
    with pytest.raises(InputError) as caught:
        write_file(full, b"claims")
    assert caught.value.file == "/dev/full"
    assert "No space left on device" in str(caught.value)
    assert full.is_char_device()  # not replaced by a regular file


# ------------------------------------------------------------------------------------ names and overwriting


def test_claim_ids_that_make_one_file_name_get_distinct_names() -> None:
    encounters = [encounter(n, claim_id=claim) for n, claim in
                  enumerate(["CLM/1", "CLM_1", "clm_1", "CLM_1-2", "CLM:1"], start=1)]
    names = pdf_file_names(encounters, "cms1500")
    assert names == ["CLM_1-cms1500.pdf", "CLM_1-2-cms1500.pdf", "clm_1-3-cms1500.pdf",
                     "CLM_1-2-2-cms1500.pdf", "CLM_1-4-cms1500.pdf"]
    assert len({name.casefold() for name in names}) == len(names)


def test_file_names_are_ascii_and_bounded() -> None:
    names = pdf_file_names([encounter(1, claim_id="Ｃ①²é"), encounter(2, claim_id="X" * 300)], "superbill")
    assert names[0] == "____-superbill.pdf"
    assert names[1] == "X" * 100 + "-superbill.pdf"


def test_each_colliding_claim_gets_its_own_pdf_and_the_cli_says_which_is_which(tmp_path: Path) -> None:
    source = tmp_path / "two.json"
    first, second = pt_visit_data(), pt_visit_data()
    first.update(id="E-A", claim_id="CLM/1")
    second.update(id="E-B", claim_id="CLM:1")
    source.write_text(json.dumps({"encounters": [first, second]}))
    out = tmp_path / "pdfs"
    status, output = run("export", str(source), "-f", "superbill", "-o", str(out))
    assert status == 0, output
    flat = " ".join(output.split())
    assert f"wrote {out / 'CLM_1-superbill.pdf'} (claim CLM/1, encounter E-A)" in flat
    assert f"wrote {out / 'CLM_1-2-superbill.pdf'} (claim CLM:1, encounter E-B)" in flat
    assert "CLM/1" in pdf_text(out / "CLM_1-superbill.pdf")
    assert "CLM:1" in pdf_text(out / "CLM_1-2-superbill.pdf")


@pytest.mark.parametrize("fmt", ["837p", "fhir", "cms1500"])
def test_the_file_the_user_names_is_replaced(tmp_path: Path, fmt: ExportFormat) -> None:
    out = target(tmp_path, fmt)
    out.write_bytes(b"an older export")
    export_encounters([encounter(7)], fmt, out)
    content = out.read_bytes()
    assert content != b"an older export"
    assert b"CLM-0007" in content or "CLM-0007" in pdf_text(out)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_pdfs_in_a_folder_replace_their_own_names_and_leave_other_files(tmp_path: Path) -> None:
    out = tmp_path / "pdfs"
    out.mkdir()
    (out / "CLM-0001-cms1500.pdf").write_bytes(b"an older export")
    (out / "notes.txt").write_text("keep me")
    export_encounters([encounter(1), encounter(2)], "cms1500", out)
    assert sorted(p.name for p in out.iterdir()) == ["CLM-0001-cms1500.pdf", "CLM-0002-cms1500.pdf", "notes.txt"]
    assert "CLM-0001" in pdf_text(out / "CLM-0001-cms1500.pdf")
    assert (out / "notes.txt").read_text() == "keep me"


def test_a_written_file_gets_the_usual_permissions(tmp_path: Path) -> None:
    out = tmp_path / "claims.json"
    old = os.umask(0o022)
    try:
        export_encounters([encounter(1)], "fhir", out)
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644


def test_a_symlink_named_as_output_writes_its_target(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    export_encounters([encounter(1)], "fhir", link)
    assert link.is_symlink()
    assert json.loads(real.read_text())["resourceType"] == "Bundle"
