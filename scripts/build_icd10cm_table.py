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

Older fiscal years (issue 14 item 10). The older simple-icd-10-cm wheels each carry one release in their data
folder; the script fetches the wheel with ``pip download --no-deps`` into a temporary folder and reads the data
files from it (the library is never imported from those wheels, and nothing is installed):

* FY2021: simple-icd-10-cm 1.2.0 ships ``data/icd10cm-order-Jan-2021.txt`` (the CMS/CDC order file of the
  FY2021 tabular list as updated January 1, 2021, which added Z11.52, Z20.822, Z86.16, M35.81, M35.89 and
  J12.82) and ``data/icd10cm_tabular_2021.xml`` (``<version>2021</version>``). The order file's column 15 says
  header (0) or billable (1), so it is read directly.
* FY2025: simple-icd-10-cm 1.4.0 ships ``data/code-list-April-2025.txt`` and
  ``data/icd10cm-tabular-April-2025.xml`` (the April 1, 2025 update); the installed 1.5 library reads them
  through its ``change_version`` function, exactly as it reads its own FY2026 files.
* FY2022, FY2023, FY2024: no simple-icd-10-cm wheel ships them (checked 2026-12-07 for every version on PyPI:
  1.0.1 and 1.0.4-1.2.0 carry FY2021, 1.0.0, 1.0.2 and 1.0.3 no data, 1.3.0-1.4.0 FY2025, 1.5.0 FY2026), so they are
  not bundled; ``cleanclaim data import`` takes the CMS order file (src/cleanclaim/codebook/icd10cm/README.md).

An older release is stored as a *delta* against the FY2026 table (codes added, removed or changed), which keeps
the package small: the full table is ~700 KB gzipped, a delta a few tens of KB. For FY2021 a code whose billable
flag is the same in both years keeps FY2026's title (the order file's long titles are worded differently from
the tabular titles simple-icd-10-cm builds for 7th-character codes, and storing both wordings would store the
whole table twice); the sidecar says so.

Run from the repository root (needs the ``dev`` extra and network access to PyPI for the older wheels)::

    .venv/bin/python scripts/build_icd10cm_table.py            # FY2026 and the deltas
    .venv/bin/python scripts/build_icd10cm_table.py --only fy2026
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
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

_LICENCE = (
    "ICD-10-CM code titles are published by CDC/NCHS and CMS as U.S. Government works in the "
    "public domain; simple-icd-10-cm's own code is MIT-licensed and is not shipped"
)

Row = tuple[str, bool, str]


@dataclass(frozen=True)
class OlderRelease:
    """An older fiscal year read from the data folder of an older simple-icd-10-cm wheel."""

    stem: str
    fiscal_year: int
    data_effective: dt.date
    update: str
    wheel_version: str
    order_file: str | None
    """The CMS order file in the wheel (read directly), or None to read the two files below with the library."""
    code_list: str | None
    tabular: str
    keep_base_titles: bool
    """True when the source words titles differently (the order file): unchanged codes keep FY2026's title."""


OLDER = {
    "fy2021": OlderRelease(
        stem="icd10cm_fy2021_january", fiscal_year=2021, data_effective=dt.date(2021, 1, 1),
        update="January 1, 2021 update", wheel_version="1.2.0",
        order_file="simple_icd_10_cm/data/icd10cm-order-Jan-2021.txt", code_list=None,
        tabular="simple_icd_10_cm/data/icd10cm_tabular_2021.xml", keep_base_titles=True),
    "fy2025": OlderRelease(
        stem="icd10cm_fy2025_april", fiscal_year=2025, data_effective=dt.date(2025, 4, 1),
        update="April 1, 2025 update", wheel_version="1.4.0", order_file=None,
        code_list="simple_icd_10_cm/data/code-list-April-2025.txt",
        tabular="simple_icd_10_cm/data/icd10cm-tabular-April-2025.xml", keep_base_titles=False),
}


def _library_rows(icd: object) -> list[Row]:
    """(code without dot, billable, description) for every category and subcategory, in tabular order.

    Billable means a leaf of the tabular tree: the library adds the 7th-character codes (e.g. S72.001A) as
    leaves under their parents, so a code with children is a header that needs more characters.
    """
    rows: list[Row] = []
    seen: set[str] = set()
    # get_all_codes lists a block that shares its name with its only category (B10, C7A ...) twice; keep one.
    for dotted in icd.get_all_codes(with_dots=True):  # type: ignore[attr-defined]
        if dotted in seen or not icd.is_category_or_subcategory(dotted):  # type: ignore[attr-defined]
            continue
        seen.add(dotted)
        code = dotted.replace(".", "")
        if not _CODE_SHAPE.match(code):
            raise SystemExit(f"unexpected code shape from simple-icd-10-cm: {dotted!r}")
        description = " ".join(icd.get_description(dotted).split())  # type: ignore[attr-defined]
        rows.append((code, icd.is_leaf(dotted), description))  # type: ignore[attr-defined]
    return rows


def _rows() -> list[Row]:
    import simple_icd_10_cm as icd  # type: ignore[import-untyped]  # slow import: build time only

    return _library_rows(icd)


def _order_rows(text: str, where: str) -> list[Row]:
    """Rows of a CMS order file (fixed width: 7-13 code, 15 header/billable flag, 78- long title)."""
    rows: list[Row] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        code, flag, title = line[6:13].strip(), line[14:15], " ".join(line[77:].split())
        if not _CODE_SHAPE.match(code) or flag not in ("0", "1") or not title:
            raise SystemExit(f"{where} line {number}: not in the order file layout: {line[:40]!r}")
        rows.append((code, flag == "1", title))
    return rows


def _wheel(version: str, folder: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
         "--dest", str(folder), f"simple-icd-10-cm=={version}"],
        check=True,
    )
    wheels = list(folder.glob(f"simple_icd_10_cm-{version}-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one simple-icd-10-cm {version} wheel in {folder}, found {wheels}")
    return wheels[0]


def _older_rows(release: OlderRelease) -> tuple[list[Row], str, str]:
    """The older release's rows, the wheel's file name and the data file read (for the sidecar)."""
    with tempfile.TemporaryDirectory(prefix="icd10cm-") as temporary:
        folder = Path(temporary)
        wheel = _wheel(release.wheel_version, folder)
        with zipfile.ZipFile(wheel) as archive:
            if release.order_file is not None:
                text = archive.read(release.order_file).decode("utf-8")
                return _order_rows(text, release.order_file), wheel.name, release.order_file
            assert release.code_list is not None
            archive.extract(release.code_list, folder)
            archive.extract(release.tabular, folder)
        import simple_icd_10_cm as icd

        icd.change_version(str(folder / release.code_list), str(folder / release.tabular))
        try:
            return _library_rows(icd), wheel.name, f"{release.code_list} + {release.tabular}"
        finally:
            icd.change_version()  # back to the library's own release


def _delta(rows: list[Row], base: list[Row], keep_base_titles: bool) -> list[tuple[str, str, bool, str]]:
    """(code, change, billable, title) turning the base table into this release: added, removed or changed."""
    base_by_code = {code: (billable, title) for code, billable, title in base}
    codes = {code for code, _, _ in rows}
    delta: list[tuple[str, str, bool, str]] = []
    for code, billable, title in rows:
        was = base_by_code.get(code)
        if was is None:
            delta.append((code, "added", billable, title))
        elif was[0] != billable or (not keep_base_titles and was[1] != title):
            delta.append((code, "changed", billable, title))
    delta += [(code, "removed", billable, title) for code, billable, title in base if code not in codes]
    return sorted(delta)


def _gzip(text: str) -> bytes:
    # mtime=0 keeps the gzip bytes identical across rebuilds of the same data.
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def _tsv(rows: list[Row]) -> bytes:
    text = io.StringIO()
    text.write("code\tbillable\tdescription\n")
    for code, billable, description in rows:
        if "\t" in description:
            raise SystemExit(f"tab in the description of {code}")
        text.write(f"{code}\t{int(billable)}\t{description}\n")
    return _gzip(text.getvalue())


def _delta_tsv(delta: list[tuple[str, str, bool, str]]) -> bytes:
    text = io.StringIO()
    text.write("code\tchange\tbillable\tdescription\n")
    for code, change, billable, description in delta:
        if "\t" in description:
            raise SystemExit(f"tab in the description of {code}")
        text.write(f"{code}\t{change}\t{int(billable)}\t{description}\n")
    return _gzip(text.getvalue())


def _meta(rows: list[Row], data_file: str, digest: str, version: str) -> dict[str, object]:
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
        "licence": _LICENCE,
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


def _older_meta(release: OlderRelease, rows: list[Row], delta_rows: int, data_file: str, digest: str,
                wheel: str, read: str) -> dict[str, object]:
    year = release.fiscal_year
    titles = (
        "codes present in FY2026 with the same billable flag keep FY2026's tabular title (the order file words "
        "7th-character titles differently); added, removed-then-restored and changed codes carry this release's "
        "own long title from the order file"
        if release.keep_base_titles else
        "every title is this release's tabular title, as simple-icd-10-cm builds it"
    )
    return {
        "name": f"ICD-10-CM FY{year}",
        "fiscal_year": year,
        "valid_from": f"{year - 1}-10-01",
        "valid_to": f"{year}-09-30",
        "data_effective": release.data_effective.isoformat(),
        "update": release.update,
        "coverage_note": (
            f"the fiscal year runs October 1, {year - 1} to September 30, {year}; this file is the "
            f"{release.update}, so a code it added is not told apart for earlier dates of service in the year"
        ),
        "cms_release": f"ICD-10-CM FY{year}, {release.update} (CDC/NCHS), as read from {read}",
        "source": (
            f"simple-icd-10-cm {release.wheel_version} wheel {wheel} (PyPI; "
            f"https://github.com/StefanoTrv/simple_icd_10_CM), file {read}, which packages the CDC/NCHS "
            "ICD-10-CM files from https://www.cdc.gov/nchs/icd/icd-10-cm/files.html"
        ),
        "licence": _LICENCE,
        "description_note": titles,
        "built": dt.date.today().isoformat(),
        "built_by": "scripts/build_icd10cm_table.py",
        "data_file": data_file,
        "base": f"{STEM}.tsv.gz",
        "format": "delta",
        "sha256": digest,
        "codes": len(rows),
        "billable": sum(1 for _, billable, _ in rows if billable),
        "delta_rows": delta_rows,
        "columns": {
            "code": "ICD-10-CM code without the dot, upper case",
            "change": "added (not in the base table), removed (in the base, not in this release) or changed "
                      "(billable flag or title differs)",
            "billable": "1 = valid for HIPAA-covered transactions, 0 = header that needs more characters",
            "description": "code title in this release (for removed rows: the base table's title)",
        },
    }


def _write(output_dir: Path, data_name: str, payload: bytes, meta: dict[str, object]) -> None:
    (output_dir / data_name).write_bytes(payload)
    meta_path = output_dir / data_name.replace(".tsv.gz", ".meta.json")
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {output_dir / data_name} ({len(payload):,} bytes, {meta['codes']:,} codes, "
          f"{meta['billable']:,} billable)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=OUTPUT_DIR)
    parser.add_argument("--only", choices=["fy2026", *OLDER], action="append",
                        help="build only these releases (repeatable); default: all")
    args = parser.parse_args(argv)
    wanted = set(args.only or ["fy2026", *OLDER])

    version = metadata.version("simple-icd-10-cm")
    if not version.startswith(EXPECTED_MAJOR_MINOR + "."):
        raise SystemExit(
            f"simple-icd-10-cm {version} installed; this script knows what {EXPECTED_MAJOR_MINOR}.x "
            "packages. Check which ICD-10-CM release the new version ships and update FISCAL_YEAR, "
            "DATA_EFFECTIVE and STEM."
        )
    output_dir: Path = args.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    base = _rows()
    if "fy2026" in wanted:
        payload = _tsv(base)
        name = f"{STEM}.tsv.gz"
        _write(output_dir, name, payload, _meta(base, name, hashlib.sha256(payload).hexdigest(), version))
    for key, release in OLDER.items():
        if key not in wanted:
            continue
        rows, wheel, read = _older_rows(release)
        delta = _delta(rows, base, release.keep_base_titles)
        payload = _delta_tsv(delta)
        name = f"{release.stem}.tsv.gz"
        _write(output_dir, name, payload, _older_meta(release, rows, len(delta), name,
                                                      hashlib.sha256(payload).hexdigest(), wheel, read))


if __name__ == "__main__":
    main()
