"""Build the bundled ICD-10-CM table from simple-icd-10-cm, so cleanclaim never imports it at run time.

simple-icd-10-cm parses its 10 MB tabular XML on import (about 2 s and 190 MB): fine once at build time,
wrong on every ``cleanclaim check``. This script walks the library's code tree once and writes every
category, subcategory and 7th-character code (billable or header) to a small gzipped TSV beside a
``.meta.json`` sidecar that names the source, release, validity window and licence.

Which release simple-icd-10-cm 1.5.0 packages (checked, not assumed):

* its README / PyPI description, release notes for 1.5.0: "The default ICD-10-CM release of the library
  is now the April 2026 release", and "The data used in this library was taken from the website of the
  CDC" (https://github.com/StefanoTrv/simple_icd_10_CM, README.md);
* its data files: ``data/icd10c-tabular-April-1-2026.xml`` (whose ``<version>`` element reads ``2026``)
  and ``data/code-list-April-2026.txt``; the repository's ``all-data/2026-04/README.md`` says the April
  2026 data came from https://www.cdc.gov/nchs/icd/icd-10-cm/files.html.

So the table is ICD-10-CM FY2026 as updated on April 1, 2026. The fiscal year runs October 1, 2025 to
September 30, 2026; the April 1 update replaces the October 1 files for the rest of that fiscal year, so a
code added on April 1, 2026 would be accepted by this table for an earlier date. The sidecar records
``data_effective`` = 2026-04-01 and cleanclaim's lookups say so in a note for dates before it.

Run from the repository root (needs the ``dev`` extra)::

    .venv/bin/python scripts/build_icd10cm_table.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import io
import json
import re
from importlib import metadata
from pathlib import Path

OUTPUT_DIR = Path(__file__).resolve().parents[1] / "src" / "cleanclaim" / "codebook" / "icd10cm"

# What simple-icd-10-cm 1.5.x ships, from its README and data file names (see the module docstring).
EXPECTED_MAJOR_MINOR = "1.5"
FISCAL_YEAR = 2026
DATA_EFFECTIVE = dt.date(2026, 4, 1)
CMS_RELEASE = "ICD-10-CM FY2026, April 1, 2026 update (CDC/NCHS tabular list icd10c-tabular-April-1-2026.xml)"
STEM = "icd10cm_fy2026_april"

# A letter may stand second: the FY2026 tabular has category QA0 (genetic neurodevelopmental disorders).
_CODE_SHAPE = re.compile(r"^[A-Z][0-9A-Z][0-9A-Z][0-9A-Z]{0,4}$")


def _rows() -> list[tuple[str, bool, str]]:
    """(code without dot, billable, description) for every category and subcategory, in tabular order.

    Billable means a leaf of the tabular tree: the library adds the 7th-character codes (e.g. S72.001A) as
    leaves under their parents, so a code with children is a header that needs more characters.
    """
    import simple_icd_10_cm as icd  # type: ignore[import-untyped]  # slow import: build time only

    rows: list[tuple[str, bool, str]] = []
    seen: set[str] = set()
    # get_all_codes lists a block that shares its name with its only category (B10, C7A ...) twice; keep one.
    for dotted in icd.get_all_codes(with_dots=True):
        if dotted in seen or not icd.is_category_or_subcategory(dotted):
            continue
        seen.add(dotted)
        code = dotted.replace(".", "")
        if not _CODE_SHAPE.match(code):
            raise SystemExit(f"unexpected code shape from simple-icd-10-cm: {dotted!r}")
        description = " ".join(icd.get_description(dotted).split())
        rows.append((code, icd.is_leaf(dotted), description))
    return rows


def _tsv(rows: list[tuple[str, bool, str]]) -> bytes:
    text = io.StringIO()
    text.write("code\tbillable\tdescription\n")
    for code, billable, description in rows:
        if "\t" in description:
            raise SystemExit(f"tab in the description of {code}")
        text.write(f"{code}\t{int(billable)}\t{description}\n")
    # mtime=0 keeps the gzip bytes identical across rebuilds of the same data.
    return gzip.compress(text.getvalue().encode("utf-8"), compresslevel=9, mtime=0)


def _meta(rows: list[tuple[str, bool, str]], data_file: str, digest: str, version: str) -> dict[str, object]:
    return {
        "name": f"ICD-10-CM FY{FISCAL_YEAR} April update",
        "fiscal_year": FISCAL_YEAR,
        "valid_from": f"{FISCAL_YEAR - 1}-10-01",
        "valid_to": f"{FISCAL_YEAR}-09-30",
        "data_effective": DATA_EFFECTIVE.isoformat(),
        "update": "April 1, 2026 update",
        "coverage_note": (
            "the fiscal year runs October 1 to September 30; this file is the April 1, 2026 update, "
            "which replaced the October 1, 2025 files for the rest of the year, so a code added on "
            "April 1, 2026 is not told apart for earlier dates of service"
        ),
        "cms_release": CMS_RELEASE,
        "source": (
            f"simple-icd-10-cm {version} (PyPI; https://github.com/StefanoTrv/simple_icd_10_CM), which "
            "packages the CDC/NCHS ICD-10-CM April 1, 2026 files from "
            "https://www.cdc.gov/nchs/icd/icd-10-cm/files.html"
        ),
        "licence": (
            "ICD-10-CM code titles are published by CDC/NCHS and CMS as U.S. Government works in the "
            "public domain; simple-icd-10-cm's own code is MIT-licensed and is not shipped"
        ),
        "description_note": (
            "description is the tabular-list title; for 7th-character codes it is the parent title, a "
            "comma and the 7th-character meaning, as simple-icd-10-cm builds it. The tabular list has no "
            "short titles."
        ),
        "built": dt.date.today().isoformat(),
        "built_by": "scripts/build_icd10cm_table.py",
        "data_file": data_file,
        "sha256": digest,
        "codes": len(rows),
        "billable": sum(1 for _, billable, _ in rows if billable),
        "columns": {
            "code": "ICD-10-CM code without the dot, upper case",
            "billable": "1 = valid for HIPAA-covered transactions, 0 = header that needs more characters",
            "description": "code title (long description)",
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=OUTPUT_DIR)
    args = parser.parse_args(argv)

    version = metadata.version("simple-icd-10-cm")
    if not version.startswith(EXPECTED_MAJOR_MINOR + "."):
        raise SystemExit(
            f"simple-icd-10-cm {version} installed; this script knows what {EXPECTED_MAJOR_MINOR}.x "
            "packages. Check which ICD-10-CM release the new version ships and update FISCAL_YEAR, "
            "DATA_EFFECTIVE and STEM."
        )
    rows = _rows()
    payload = _tsv(rows)
    output_dir: Path = args.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    data_path = output_dir / f"{STEM}.tsv.gz"
    meta_path = output_dir / f"{STEM}.meta.json"
    data_path.write_bytes(payload)
    meta = _meta(rows, data_path.name, hashlib.sha256(payload).hexdigest(), version)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {data_path} ({len(payload):,} bytes, {meta['codes']:,} codes, "
          f"{meta['billable']:,} billable)")


if __name__ == "__main__":
    main()
