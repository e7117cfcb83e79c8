"""Cut the bundled ``rvu.csv`` rows for one year out of a CMS PFS relative value file (``PPRRVU*``).

Why a script: the bundled table is a subset (the codes of ``cleanclaim/codebook/codes.csv``) of a file with some
19,000 rows, and each year's rows must be reproducible from CMS's own file. The CMS file is read with the same
parser ``cleanclaim data import`` uses (``cleanclaim.refdata.cms_files``), so the columns are found by their header
names and the DESCRIPTION column (AMA CPT text) is never read, let alone copied.

Usage::

    python scripts/extract_pfs_rvu.py PPRRVU2026_Jul_nonQPP.csv --source PPRRVU2026_Jul_nonQPP > rows.csv
    python scripts/extract_pfs_rvu.py rvu26c.zip --source PPRRVU2026_Jul_nonQPP --replace

``--replace`` rewrites the year's rows of the bundled ``rvu.csv`` in place (its comment header, which names the
source, must be updated by hand); without it the rows are printed. Codes of the code book that the file does not
carry are listed on stderr, so a deleted or unread code is said, never silently left out.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from cleanclaim.refdata.cms_files import ParsedTable, RefTable, parse_path

ROOT = Path(__file__).resolve().parents[1]
CODES = ROOT / "src" / "cleanclaim" / "codebook" / "codes.csv"
RVU = ROOT / "src" / "cleanclaim" / "refdata" / "bundled" / "rvu.csv"
COLUMNS = ["year", "code", "modifier", "status", "work_rvu", "nf_pe_rvu", "f_pe_rvu", "mp_rvu", "global_days",
           "mult_proc", "source"]


def codebook_codes(path: Path = CODES) -> list[str]:
    """The code book's codes in file order (comment lines start with ``#``)."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    return list(dict.fromkeys(row["code"] for row in csv.DictReader(lines)))


def _money(value: float | None) -> str:
    # CMS prints RVUs with two decimals; the bundled file keeps that form so a row can be checked against the file.
    return "" if value is None else f"{value:.2f}"


def bundled_rows(table: ParsedTable, codes: list[str], source: str) -> tuple[list[list[str]], list[str]]:
    """rvu.csv rows for ``codes`` (global rows and modifier rows alike), and the codes the CMS table lacks."""
    wanted = set(codes)
    rows: list[list[str]] = []
    found: set[str] = set()
    for record in table.frame.iter_rows(named=True):
        if record["code"] not in wanted:
            continue
        found.add(record["code"])
        rows.append([str(record["year"]), record["code"], record["modifier"] or "", record["status"],
                     _money(record["work_rvu"]), _money(record["nf_pe_rvu"]), _money(record["f_pe_rvu"]),
                     _money(record["mp_rvu"]), record["global_days"] or "", record["mult_proc"] or "", source])
    order = {code: index for index, code in enumerate(codes)}
    rows.sort(key=lambda row: (order[row[1]], row[2]))
    return rows, [code for code in codes if code not in found]


def replace_year(rvu_text: str, year: int, rows: list[list[str]]) -> str:
    """``rvu_text`` with every data row of ``year`` replaced by ``rows``; comments and other years untouched."""
    kept = [line for line in rvu_text.splitlines() if not line.startswith(f"{year},")]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return "\n".join(kept) + "\n" + out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cms_file", type=Path, help="PPRRVU*.csv / .xlsx, or the RVUyyX zip that holds it")
    parser.add_argument("--source", required=True, help="source label written on every row, e.g. PPRRVU2026_Jul")
    parser.add_argument("--replace", action="store_true", help="rewrite the year's rows of the bundled rvu.csv")
    args = parser.parse_args(argv)
    [table] = parse_path(args.cms_file, kind=RefTable.RVU)
    rows, missing = bundled_rows(table, codebook_codes(), args.source)
    if missing:
        print(f"not in {table.source_file}: {' '.join(missing)}", file=sys.stderr)
    if args.replace:
        RVU.write_text(replace_year(RVU.read_text(encoding="utf-8"), int(table.period), rows), encoding="utf-8")
        print(f"rvu.csv: {len(rows)} rows for {table.period} from {table.source_file}", file=sys.stderr)
    else:
        csv.writer(sys.stdout, lineterminator="\n").writerows(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
