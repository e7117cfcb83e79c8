"""Bring the bundled CARC and RARC lists (``carc.csv``, ``rarc.csv``) up to a newer capture of the X12 code lists.

Why a script: the lists change three times a year (X12's March, July and November updates) and each update must be
reproducible from the published list, with cleanclaim's own columns (a CARC's kind, the short descriptions) kept.
Only the codes and their Start/Stop dates are read from the capture; X12's wording is never copied.

Inputs (neither is committed; the CSV headers name the copies used):

* ``--carc-html``: a saved copy of https://x12.org/codes/claim-adjustment-reason-codes (the page's code table:
  ``<tr class="prod-set current|deactivated"><td class="code">..</td><td class="description">..<span class="dates">
  Start: mm/dd/yyyy | Stop: mm/dd/yyyy ..</span>``);
* ``--rarc-csv``: a CSV with columns ``code`` and ``description``, where the description is the text of the
  remittance-advice-remark-codes page's row, its date line included ("...Start: 01/01/1997 | Stop: 07/01/2016").

Usage::

    python scripts/update_x12_code_lists.py --carc-html carc.html --rarc-csv rarc_codes.csv          # report only
    python scripts/update_x12_code_lists.py --carc-html carc.html --rarc-csv rarc_codes.csv --replace

Merging: a code in the capture takes the capture's Start and Stop dates (its kind and description in the bundled
file are kept); a code new to the capture is added with blank kind and description (valid, not classified); a
bundled code the capture lacks is kept as it is and named on stderr (a capture can drop a row; X12 never deletes a
code, it deactivates it). Every change is printed on stderr. ``--replace`` rewrites the data rows in place; the
comment header, which names the source, is kept and must be updated by hand.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import html
import io
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODES_DIR = ROOT / "src" / "cleanclaim" / "formats" / "remittance_codes"
CARC = CODES_DIR / "carc.csv"
RARC = CODES_DIR / "rarc.csv"

_ROW = re.compile(r'<tr class="prod-set (?P<status>\w+)"><td class="code">(?P<code>[^<]*)</td>'
                  r'<td class="description">(?P<text>.*?)</td></tr>', re.S)
_START = re.compile(r"Start:\s*(\d{2}/\d{2}/\d{4})")
_STOP = re.compile(r"Stop:\s*(\d{2}/\d{2}/\d{4})")
_CODE = re.compile(r"^(?:\d{1,3}|[A-Z]{1,2}\d{1,3})$")

Dates = tuple[str, str]
"""(start, stop) as ISO dates; "" when the list gives none."""


def _iso(match: re.Match[str] | None) -> str:
    return "" if match is None else dt.datetime.strptime(match.group(1), "%m/%d/%Y").date().isoformat()


def _dates(text: str, code: str) -> Dates:
    starts = _START.findall(text)
    if len(starts) != 1:
        raise ValueError(f"{code}: expected one Start date in the row, found {len(starts)}")
    return _iso(_START.search(text)), _iso(_STOP.search(text))


def carc_from_html(text: str) -> dict[str, Dates]:
    """Each CARC of the saved x12.org page with its dates. A deactivated row must carry a Stop date, a current one
    may (a stop announced for a later update)."""
    found: dict[str, Dates] = {}
    for match in _ROW.finditer(text):
        code = html.unescape(match["code"]).strip().upper()
        if not _CODE.match(code):
            raise ValueError(f"not a CARC: {code!r}")
        dates_span = re.search(r'<span class="dates">(.*?)</span>', match["text"], re.S)
        if dates_span is None:
            raise ValueError(f"CARC {code}: no dates")
        start, stop = _dates(dates_span.group(1), code)
        if match["status"] == "deactivated" and not stop:
            raise ValueError(f"CARC {code} is deactivated but has no Stop date")
        if code in found:
            raise ValueError(f"CARC {code} is listed twice")
        found[code] = (start, stop)
    if not found:
        raise ValueError("no CARC rows found: is this the saved claim-adjustment-reason-codes page?")
    return found


def rarc_from_csv(text: str) -> dict[str, Dates]:
    found: dict[str, Dates] = {}
    for row in csv.DictReader(io.StringIO(text)):
        code = row["code"].strip().upper()
        if not re.match(r"^(?:M|MA|N)\d{1,3}$", code):
            raise ValueError(f"not a RARC: {code!r}")
        if code in found:
            raise ValueError(f"RARC {code} is listed twice")
        found[code] = _dates(row["description"], code)
    if not found:
        raise ValueError("no RARC rows found")
    return found


def _sort_key(code: str) -> tuple[int, str, int]:
    """Numeric CARCs first in number order, then letter codes by prefix and number (A0.., B1.., M1.., MA01.., N1..)."""
    match = re.match(r"^([A-Z]*)(\d+)$", code)
    assert match is not None, code
    return (0 if not match[1] else 1, match[1], int(match[2]))


def merge(bundled_text: str, capture: dict[str, Dates], name: str) -> tuple[str, list[str]]:
    """The bundled file's text with its data rows merged with ``capture``, and one line per change."""
    header = [line for line in bundled_text.splitlines() if line.startswith("#")]
    data = [line for line in bundled_text.splitlines() if line and not line.startswith("#")]
    reader = csv.DictReader(data)
    columns = list(reader.fieldnames or [])
    rows = {row["code"]: row for row in reader}
    changes: list[str] = []
    for code, (start, stop) in capture.items():
        row = rows.get(code)
        if row is None:
            rows[code] = dict.fromkeys(columns, "") | {"code": code, "start": start, "stop": stop}
            changes.append(f"{name}: added {code} (start {start}" + (f", stop {stop}" if stop else "") + ")")
        elif (row["start"], row["stop"]) != (start, stop):
            changes.append(f"{name}: {code} dates {row['start']}/{row['stop'] or '-'} -> {start}/{stop or '-'}")
            row["start"], row["stop"] = start, stop
    for code in rows:
        if code not in capture:
            changes.append(f"{name}: {code} is not in the capture; kept as bundled")
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    for code in sorted(rows, key=_sort_key):
        writer.writerow(rows[code])
    return "\n".join(header) + "\n" + out.getvalue(), changes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--carc-html", type=Path, required=True)
    parser.add_argument("--rarc-csv", type=Path, required=True)
    parser.add_argument("--replace", action="store_true", help="rewrite the bundled carc.csv and rarc.csv")
    args = parser.parse_args(argv)
    for path, capture, name in (
            (CARC, carc_from_html(args.carc_html.read_text(encoding="utf-8")), "carc.csv"),
            (RARC, rarc_from_csv(args.rarc_csv.read_text(encoding="utf-8")), "rarc.csv")):
        text, changes = merge(path.read_text(encoding="utf-8"), capture, name)
        for change in changes:
            print(change, file=sys.stderr)
        print(f"{name}: {len(capture)} codes in the capture, {len(changes)} changes", file=sys.stderr)
        if args.replace:
            path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
