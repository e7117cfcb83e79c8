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
September 30, 2026; the April 1 update replaces the October 1 files for the rest of that fiscal year. It changed
no code (see ``UPDATE_CHANGED_CODES``), so the sidecar records ``data_effective`` = 2026-04-01 with
``update_changed_codes`` = false, and lookups for October 2025-March 2026 carry no "not told apart" note. A later
update that does change codes must set it True.

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
  1.0.1 and 1.0.4-1.2.0 carry FY2021, 1.0.0, 1.0.2 and 1.0.3 no data, 1.3.0-1.4.0 FY2025, 1.5.0 FY2026). They are
  read from the code descriptions zips CMS and CDC/NCHS publish for each year, which hold the order file
  (``icd10cm_order_YYYY.txt``) and its order addenda: for FY2022 and FY2023 both the October 1 file (CDC's zip)
  and the April 1 update (CMS's zip), so each half of those years is judged by the file in force; for FY2024 the
  one file (the April 1, 2024 update changed no code). This machine reaches neither CMS nor CDC, so the zips were
  taken from a public copy: github.com/dewittpe/medicalcoder at commit ``MEDICALCODER_COMMIT``
  (``data-raw/icd/icd10/cms/cms_2022_dx.zip`` ... downloaded there from the CMS addresses in that repository's
  ``data-raw/icd/icd10/download.sh``, and a mirror of CDC's FTP folders under ``data-raw/icd/icd10/ftp.cdc.gov``).
  ``ORDER_FILES`` below names each zip's publisher address and path in the copy. The script checks each zip's and
  each order file's SHA-256 against the values there, and the order file's header and code counts against the
  counts the zip's own order addenda state, before it writes anything. Pass the folder holding the zips (under
  their file names in the copy) with ``--order-zips``.

  Which update each zip is (checked, not assumed): CMS's FY2022 zip ("updated 02/01/2022") is the April 1, 2022
  update (its addenda add Z28.310, Z28.311 and Z28.39 to the October 1, 2021 file: 72,748 -> 72,750 codes); CMS's
  FY2023 zip ("updated 01/11/2023") is the April 1, 2023 update (addenda: 42 codes added, 7 made headers:
  73,639 -> 73,674); CMS's FY2024 zip ("updated 02/01/2024") holds byte for byte the October 1, 2023 order file
  (CDC's ``icd10cm-order-2024.txt`` and ``icd10cm-order-April-2024.txt`` have the same SHA-256), and its addenda
  list no change for April 1, 2024: 74,044 codes all year. The chain was also checked end to end on 2026-12-07:
  FY2021 (CMS's January 2021 file) + CDC's FY2022 order addenda = CDC's October 2021 file; + CMS's FY2022 addenda =
  CMS's April 2022 file; + CDC's FY2023 addenda = CDC's October 2022 file; + CMS's FY2023 addenda = CMS's April 2023
  file; + CDC's FY2024 addenda = the FY2024 file; + CMS's FY2025 addenda = CMS's October 2024 file (every code and
  billable flag equal at each step).

An older release is stored as a *delta* against the FY2026 table (codes added, removed or changed), which keeps
the package small: the full table is ~700 KB gzipped, a delta a few tens of KB. For FY2021 a code whose billable
flag is the same in both years keeps FY2026's title (the order file's long titles are worded differently from
the tabular titles simple-icd-10-cm builds for 7th-character codes, and storing both wordings would store the
whole table twice); the sidecar says so. The same holds for FY2022-FY2024, read from order files too.

Run from the repository root (needs the ``dev`` extra, network access to PyPI for the older wheels, and the
FY2022-FY2024 zips in one folder)::

    .venv/bin/python scripts/build_icd10cm_table.py --order-zips DIR   # FY2026 and every delta
    .venv/bin/python scripts/build_icd10cm_table.py --only fy2026
    .venv/bin/python scripts/build_icd10cm_table.py --only fy2023-april --order-zips DIR
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
# The April 1, 2026 update changed no code: this table's billable codes differ from FY2025's by exactly the 487
# additions and 28 deletions of CMS's October 2025 order addenda (icd10cm_order_addenda_2026.txt in CMS's FY2026 zip,
# read from the copy named at MEDICALCODER_REPO), and its 98,186 codes equal that October file's 74,719 codes and
# 23,467 headers. So it answers for October 2025-March 2026 without the "not told apart" caveat.
UPDATE_CHANGED_CODES = False
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
    update_changed_codes: bool
    """Whether the mid-year update added, deleted or revised codes against the year's October 1 file."""


OLDER = {
    "fy2021": OlderRelease(
        stem="icd10cm_fy2021_january", fiscal_year=2021, data_effective=dt.date(2021, 1, 1),
        update="January 1, 2021 update", wheel_version="1.2.0",
        order_file="simple_icd_10_cm/data/icd10cm-order-Jan-2021.txt", code_list=None,
        tabular="simple_icd_10_cm/data/icd10cm_tabular_2021.xml", keep_base_titles=True,
        update_changed_codes=True),  # January 2021: Z11.52, Z20.822, Z86.16, M35.81, M35.89, J12.82
    "fy2025": OlderRelease(
        stem="icd10cm_fy2025_april", fiscal_year=2025, data_effective=dt.date(2025, 4, 1),
        update="April 1, 2025 update", wheel_version="1.4.0", order_file=None,
        code_list="simple_icd_10_cm/data/code-list-April-2025.txt",
        tabular="simple_icd_10_cm/data/icd10cm-tabular-April-2025.xml", keep_base_titles=False,
        # CDC's icd10cm-order-addenda-April-2025.txt (2025-Update/Code-desciptions-April-2025.zip, read from the copy
        # named at MEDICALCODER_REPO): 0 additions, 0 deletions, 0 revisions of codes and headers
        update_changed_codes=False),
}


# Where the CMS and CDC zips below were copied from (this machine reaches neither; see the module docstring).
MEDICALCODER_REPO = "https://github.com/dewittpe/medicalcoder"
MEDICALCODER_COMMIT = "4e48bdcbf113b7116ed0278fa3f3a15fb682c4a1"
_CMS_COPY = "data-raw/icd/icd10/cms"
_CDC_COPY = "data-raw/icd/icd10/ftp.cdc.gov/pub/Health_Statistics/NCHS/Publications/ICD10CM"
_CDC_FTP = "https://ftp.cdc.gov/pub/Health_Statistics/NCHS/Publications/ICD10CM"


@dataclass(frozen=True)
class OrderFileRelease:
    """An older fiscal year read from the order file in a CMS or CDC/NCHS code descriptions zip."""

    stem: str
    name: str
    """What findings cite."""
    fiscal_year: int
    data_effective: dt.date
    update: str
    publisher: str
    url: str
    """Where CMS or CDC published the zip."""
    copy_path: str
    """The zip's path in the public copy (MEDICALCODER_REPO at MEDICALCODER_COMMIT); its file name is the one looked
    for in the folder given with --order-zips."""
    zip_sha256: str
    order_file: str
    order_sha256: str
    addenda_file: str
    """The order addenda in the same zip: its closing counts are checked against the order file."""
    coverage_note: str

    @property
    def zip_name(self) -> str:
        return self.copy_path.rsplit("/", 1)[-1]


ORDER_FILES = {
    "fy2022-october": OrderFileRelease(
        stem="icd10cm_fy2022_october", name="ICD-10-CM FY2022", fiscal_year=2022,
        data_effective=dt.date(2021, 10, 1), update="October 1, 2021 release", publisher="CDC/NCHS",
        url=f"{_CDC_FTP}/2022/Code%20Descriptions%20zip.zip",
        copy_path=f"{_CDC_COPY}/2022/Code Descriptions zip.zip",
        zip_sha256="bab2b3b041cf4b999f8380f3198c1dd6ca404ba7d5513ec60efc813a97f7c214",
        order_file="Code Descriptions/icd10cm-order-2022.txt",
        order_sha256="777ee7873b31a11d324f93c3d1d91ea94b752620a5088f638700698f965ad32c",
        addenda_file="Code Descriptions/icd10cm-order-addenda-2022.txt",
        coverage_note=(
            "the fiscal year runs October 1, 2021 to September 30, 2022; this is the October 1, 2021 file, which "
            "answers until the April 1, 2022 update (icd10cm_fy2022_april) takes over"
        )),
    "fy2022-april": OrderFileRelease(
        stem="icd10cm_fy2022_april", name="ICD-10-CM FY2022 April update", fiscal_year=2022,
        data_effective=dt.date(2022, 4, 1), update="April 1, 2022 update", publisher="CMS",
        url="https://www.cms.gov/files/zip/2022-code-descriptions-tabular-order-updated-02012022.zip",
        copy_path=f"{_CMS_COPY}/cms_2022_dx.zip",
        zip_sha256="423206a194dd6db8384c3b39699ad3c1efa19718677fa81690557732a31bf560",
        order_file="Code Descriptions/icd10cm_order_2022.txt",
        order_sha256="6fd40ef6ab4860d3299578bf15fa7e2dba17d271efc3929c56b3353a45f22cc7",
        addenda_file="Code Descriptions/icd10cm_order_addenda_2022.txt",
        coverage_note=(
            "the April 1, 2022 update (Z28.310, Z28.311 and Z28.39 added, Z28.3 made a header) answers from "
            "April 1 to September 30, 2022; earlier dates in the year are judged by the October 1, 2021 file"
        )),
    "fy2023-october": OrderFileRelease(
        stem="icd10cm_fy2023_october", name="ICD-10-CM FY2023", fiscal_year=2023,
        data_effective=dt.date(2022, 10, 1), update="October 1, 2022 release", publisher="CDC/NCHS",
        url=f"{_CDC_FTP}/2023/icd10-Order-CodeFiles2023.zip",
        copy_path=f"{_CDC_COPY}/2023/icd10-Order-CodeFiles2023.zip",
        zip_sha256="a7bfd4511dc154bff96fe0ced5fcd633bd26f997ccd6ae386f5c24595e1789b5",
        order_file="icd10cm-order-2023.txt",
        order_sha256="7db4a5e31b599b0bcf0a332d4553e30135ee87355dad443bdadbccfa99a73229",
        addenda_file="icd10cm-order-addenda-2023.txt",
        coverage_note=(
            "the fiscal year runs October 1, 2022 to September 30, 2023; this is the October 1, 2022 file, which "
            "answers until the April 1, 2023 update (icd10cm_fy2023_april) takes over"
        )),
    "fy2023-april": OrderFileRelease(
        stem="icd10cm_fy2023_april", name="ICD-10-CM FY2023 April update", fiscal_year=2023,
        data_effective=dt.date(2023, 4, 1), update="April 1, 2023 update", publisher="CMS",
        url="https://www.cms.gov/files/zip/2023-code-descriptions-tabular-order-updated-01/11/2023.zip",
        copy_path=f"{_CMS_COPY}/cms_2023_dx.zip",
        zip_sha256="cc7158228f6de01aa08650cc3afe446973a879dd78d44f1fec7150d45cfe1e06",
        order_file="icd10cm_order_2023.txt",
        order_sha256="bbf03fe0c6af713f66d9e73d9f0af193c12736989459161c7217960993dd2bad",
        addenda_file="icd10cm_order_addenda_2023.txt",
        coverage_note=(
            "the April 1, 2023 update (42 codes added: T74.A-, T76.A-, Y07.0-, Z55.6, Z58.8-, Z59.1-, Z91.14-, "
            "Z91.15- ...; 7 billable codes made headers) answers from April 1 to September 30, 2023; earlier dates "
            "in the year are judged by the October 1, 2022 file"
        )),
    "fy2024": OrderFileRelease(
        stem="icd10cm_fy2024_october", name="ICD-10-CM FY2024", fiscal_year=2024,
        data_effective=dt.date(2023, 10, 1), update="October 1, 2023 release (unchanged by the April 1, 2024 update)",
        publisher="CMS",
        url="https://www.cms.gov/files/zip/2024-code-descriptions-tabular-order-updated-02/01/2024.zip",
        copy_path=f"{_CMS_COPY}/cms_2024_dx.zip",
        zip_sha256="4b30a68a011edb4aaa5ad3747971ef26f3be09eb925821d78b0d4584be977e3e",
        order_file="icd10cm_order_2024.txt",
        order_sha256="d116081f3da8784e78173008449d23e383ecb8143f03c2e0a2d57223aeaa1a06",
        addenda_file="icd10cm_order_addenda_2024.txt",
        coverage_note=(
            "the fiscal year runs October 1, 2023 to September 30, 2024; the April 1, 2024 update changed no "
            "ICD-10-CM code (its order addenda list no addition, deletion or revision; CDC's October 2023 and "
            "April 2024 order files are byte-identical to this one), so this one file answers for the whole year"
        )),
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


# The closing counts of an order addenda file: "  72750 codes in icd10cm_order_2022.txt" (the previous file's
# line first, then this file's).
_ADDENDA_COUNT = re.compile(r"^\s*(\d+) (headers|codes) in icd10cm[-_]order[-_]\w+\.txt\s*$")


def _stated_counts(addenda: str) -> dict[str, int]:
    """The header and code counts an order addenda file states for the order file it comes with (the last of each)."""
    stated: dict[str, int] = {}
    for line in addenda.splitlines():
        match = _ADDENDA_COUNT.match(line)
        if match:
            stated[match.group(2)] = int(match.group(1))
    return stated


def _sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


_ADDENDA_CHANGES = re.compile(r"^\s*(\d+) (additions|deletions|revisions)\s*$")


def _stated_changes(addenda: str) -> int:
    """How many additions, deletions and revisions (of headers and codes) an order addenda file counts."""
    return sum(int(match.group(1)) for line in addenda.splitlines() if (match := _ADDENDA_CHANGES.match(line)))


def _order_zip_rows(release: OrderFileRelease, folder: Path) -> list[Row]:
    """The order file's rows, after checking the zip's and the file's SHA-256 and the counts its addenda state."""
    return _order_zip(release, folder)[0]


def _order_zip(release: OrderFileRelease, folder: Path) -> tuple[list[Row], str]:
    """The order file's rows and the addenda's text, after the checks of :func:`_order_zip_rows`."""
    path = folder / release.zip_name
    if not path.is_file():
        raise SystemExit(
            f"{path} not found: put {release.publisher}'s FY{release.fiscal_year} code descriptions zip there "
            f"({release.url}; a copy is {MEDICALCODER_REPO}/blob/{MEDICALCODER_COMMIT}/{release.copy_path})"
        )
    payload = path.read_bytes()
    if _sha256(payload) != release.zip_sha256:
        raise SystemExit(f"{path}: SHA-256 {_sha256(payload)} is not the expected {release.zip_sha256}")
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        order = archive.read(release.order_file)
        addenda = archive.read(release.addenda_file).decode("ascii")
    if _sha256(order) != release.order_sha256:
        raise SystemExit(f"{path}:{release.order_file}: SHA-256 is not the expected {release.order_sha256}")
    rows = _order_rows(order.decode("ascii"), f"{release.zip_name}:{release.order_file}")
    billable = sum(1 for _, is_billable, _ in rows if is_billable)
    counted = {"codes": billable, "headers": len(rows) - billable}
    stated = _stated_counts(addenda)
    if stated != counted:
        raise SystemExit(
            f"{path}:{release.order_file} has {counted}; its addenda {release.addenda_file} state {stated}"
        )
    return rows, addenda


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
        "update_changed_codes": UPDATE_CHANGED_CODES,
        "coverage_note": (
            "the fiscal year runs October 1 to September 30; this file is the April 1, 2026 update, which "
            "replaced the October 1, 2025 files for the rest of the year and changed no code (its billable "
            "codes differ from FY2025's by exactly CMS's October 2025 order addenda), so it answers for the "
            "whole year"
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
        "update_changed_codes": release.update_changed_codes,
        "coverage_note": (
            f"the fiscal year runs October 1, {year - 1} to September 30, {year}; this file is the "
            f"{release.update}, so a code it added is not told apart for earlier dates of service in the year"
            if release.update_changed_codes else
            f"the fiscal year runs October 1, {year - 1} to September 30, {year}; this file is the "
            f"{release.update}, which changed no code, so it answers for the whole year"
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


def _order_zip_meta(release: OrderFileRelease, rows: list[Row], delta_rows: int, data_file: str,
                    digest: str, addenda: str) -> dict[str, object]:
    year = release.fiscal_year
    copy = f"{MEDICALCODER_REPO}/blob/{MEDICALCODER_COMMIT}/{release.copy_path}"
    # a mid-year update's addenda are against the year's October file: any addition, deletion or revision counts
    mid_year = release.data_effective != dt.date(year - 1, 10, 1)
    changed = {"update_changed_codes": _stated_changes(addenda) > 0} if mid_year else {}
    return {
        "name": release.name,
        "fiscal_year": year,
        "valid_from": f"{year - 1}-10-01",
        "valid_to": f"{year}-09-30",
        "data_effective": release.data_effective.isoformat(),
        "update": release.update,
        **changed,
        "coverage_note": release.coverage_note,
        "cms_release": f"ICD-10-CM FY{year}, {release.update} ({release.publisher} order file {release.order_file})",
        "source": (
            f"{release.publisher}, ICD-10-CM FY{year} code descriptions zip {release.url}, file "
            f"{release.order_file}; the zip was read from the public copy {copy}"
        ),
        "source_zip_sha256": release.zip_sha256,
        "source_file_sha256": release.order_sha256,
        "checked": (
            f"the order file's header and code counts equal those its order addenda ({release.addenda_file}) state"
        ),
        "licence": (
            "ICD-10-CM code titles are published by CDC/NCHS and CMS as U.S. Government works in the public domain"
        ),
        "description_note": (
            "codes present in FY2026 with the same billable flag keep FY2026's tabular title (the order file words "
            "7th-character titles differently); added, removed-then-restored and changed codes carry this release's "
            "own long title from the order file"
        ),
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
    parser.add_argument("--only", choices=["fy2026", *OLDER, *ORDER_FILES], action="append",
                        help="build only these releases (repeatable); default: all")
    parser.add_argument("--order-zips", type=Path,
                        help="folder holding the CMS/CDC code description zips for FY2022-FY2024 (cms_2022_dx.zip ...)")
    args = parser.parse_args(argv)
    wanted = set(args.only or ["fy2026", *OLDER, *ORDER_FILES])
    if wanted & set(ORDER_FILES) and args.order_zips is None:
        raise SystemExit(f"{', '.join(sorted(wanted & set(ORDER_FILES)))} need --order-zips (see the module docstring)")

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
    for key, order in ORDER_FILES.items():
        if key not in wanted:
            continue
        rows, addenda = _order_zip(order, args.order_zips)
        delta = _delta(rows, base, keep_base_titles=True)
        payload = _delta_tsv(delta)
        name = f"{order.stem}.tsv.gz"
        _write(output_dir, name, payload, _order_zip_meta(order, rows, len(delta), name, _sha256(payload), addenda))


if __name__ == "__main__":
    main()
