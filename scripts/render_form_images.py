"""Render the README images of a synthetic outpatient PT visit (fictional patient and practice)."""
import tempfile
from pathlib import Path

import pypdfium2 as pdfium

from cleanclaim.formats.pdf_cms1500 import render_cms1500
from cleanclaim.formats.pdf_superbill import render_superbill
from cleanclaim.model import Encounter

visit = Encounter.model_validate({
    "id": "E-DEMO-1", "date": "2026-03-02", "payer": "medicare", "place_of_service": "11",
    "patient": {"id": "P-1001", "birth_date": "1951-04-18", "sex": "F", "first_name": "Ann", "last_name": "Example",
                "address": {"line1": "42 Maple Ave", "city": "Springfield", "state": "IL", "zip": "62704"}},
    "provider": {"npi": "1234567893", "discipline": "PT", "first_name": "Pat", "last_name": "Mover"},
    "diagnoses": ["Z47.1", "Z96.651", "M25.661", "R26.89"],
    "billing_provider": {"name": "Harbor Physical Therapy", "npi": "1245319599", "tax_id": "123456789",
                         "taxonomy": "225100000X", "phone": "2175550100",
                         "address": {"line1": "1 Main St", "line2": "Suite 200", "city": "Springfield",
                                     "state": "IL", "zip": "627011234"}},
    "subscriber": {"member_id": "1EG4TE5MK73", "first_name": "Ann", "last_name": "Example", "relationship": "self"},
    "payer_id": "12345", "claim_id": "HPT-26-0302-01",
    "lines": [
        {"code": "97110", "modifiers": ["GP"], "units": 2, "dx_pointers": [1, 3], "charge": 96.00},
        {"code": "97112", "modifiers": ["GP"], "units": 1, "dx_pointers": [4, 1], "charge": 52.00},
        {"code": "97140", "modifiers": ["GP"], "units": 1, "dx_pointers": [3], "charge": 46.00},
        {"code": "97535", "modifiers": ["GP"], "units": 1, "dx_pointers": [1, 4], "charge": 49.00},
    ],
})
out = Path("docs/images")
with tempfile.TemporaryDirectory() as tmp:
    for name, render in (("cms1500", render_cms1500), ("superbill", render_superbill)):
        pdf = Path(tmp) / f"{name}.pdf"
        render(visit, pdf)
        document = pdfium.PdfDocument(pdf)
        document[0].render(scale=110 / 72).to_pil().save(out / f"{name}.png")  # 110 dpi, the first page
        document.close()
