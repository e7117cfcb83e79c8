"""Read the modifier records of a CMS annual HCPCS file (``HCPC20yy_JAN_ANWEB_*.txt``) and compare them with the
bundled modifier list (``cleanclaim/rules/data/modifiers.csv``).

Why a script: the bundled list's HCPCS rows carry CMS's dates (date added, termination date), and each year's file
adds and ends modifiers. Reading the fixed-width file by its record layout makes the comparison reproducible; the
meanings in the bundled list are cleanclaim's own one-line summaries, so new rows are proposed, not written.

Record layout (the ``HCPC20yy_recordlayout.txt`` CMS ships with the file; positions 1-based, 320-character records):
  1-5 HCPCS code (a modifier record has the two-character modifier in 4-5), 11 record identification code (7 = first
  line of a modifier, 8 = its continuation lines), 12-91 long description, 92-119 short description,
  269-276 code added date, 277-284 action effective date, 285-292 termination date (the last valid day; blank when
  the code is valid), all dates CCYYMMDD.

Usage::

    python scripts/extract_hcpcs_modifiers.py HCPC2026_JAN_ANWEB_01122026.txt            # every modifier, as CSV
    python scripts/extract_hcpcs_modifiers.py HCPC2026_JAN_ANWEB_01122026.txt --compare  # what the bundled list lacks

``--compare`` prints one line per difference: a modifier the file has and the list lacks (with CMS's short
descriptor, to be summarised by hand), and a listed HCPCS modifier whose effective or terminated date differs from
the file's (the list's ``terminated`` is the first day the modifier is no longer valid: the day after the file's
termination date).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODIFIERS = ROOT / "src" / "cleanclaim" / "rules" / "data" / "modifiers.csv"


@dataclass(frozen=True)
class HcpcsModifier:
    modifier: str
    short_description: str
    added: dt.date
    terminated: dt.date | None
    """The first day the modifier is no longer valid (the file's termination date plus one day), or None."""


def _date(text: str, what: str, line_number: int) -> dt.date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError as exc:
        raise ValueError(f"line {line_number}: {what} {text!r} is not a CCYYMMDD date") from exc


def read_modifiers(text: str) -> list[HcpcsModifier]:
    """The modifier records (record id 7) of an annual HCPCS file, in file order."""
    found: list[HcpcsModifier] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) < 11 or line[10] != "7":
            continue
        if len(line) < 292:
            raise ValueError(f"line {number}: a modifier record of {len(line)} characters; expected 320")
        modifier = line[0:5].strip()
        if len(modifier) != 2 or not modifier.isalnum():
            raise ValueError(f"line {number}: {modifier!r} is not a two-character modifier")
        added = _date(line[268:276], "date added", number)
        if added is None:
            raise ValueError(f"line {number}: modifier {modifier} has no date added")
        last = _date(line[284:292], "termination date", number)
        found.append(HcpcsModifier(modifier, line[91:119].strip(), added,
                                   None if last is None else last + dt.timedelta(days=1)))
    if not found:
        raise ValueError("no modifier records (record id 7): is this a CMS HCPCS ANWEB text file?")
    return found


def compare(file_modifiers: list[HcpcsModifier], bundled_text: str) -> list[str]:
    """One line per difference between the file's modifiers and the bundled list's HCPCS rows."""
    rows = {row["modifier"]: row for row in csv.DictReader(io.StringIO("".join(
        line for line in bundled_text.splitlines(keepends=True) if not line.startswith("#"))))}
    out: list[str] = []
    for item in file_modifiers:
        row = rows.get(item.modifier)
        terminated = item.terminated.isoformat() if item.terminated else ""
        if row is None:
            out.append(f"missing {item.modifier}: added {item.added}" + (f", terminated {terminated}" if terminated
                                                                         else "")
                       + f" (CMS short descriptor: {item.short_description})")
            continue
        if row["effective"] != item.added.isoformat():
            out.append(f"effective {item.modifier}: list {row['effective'] or '-'}, file {item.added}")
        if row["terminated"] != terminated:
            out.append(f"terminated {item.modifier}: list {row['terminated'] or '-'}, file {terminated or '-'}")
    in_file = {item.modifier for item in file_modifiers}
    out.extend(f"not in the file: {modifier} (listed as {row['level']})" for modifier, row in rows.items()
               if row["level"] == "hcpcs" and modifier not in in_file)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hcpcs_file", type=Path, help="HCPC20yy_JAN_ANWEB_*.txt (the fixed-width text file)")
    parser.add_argument("--compare", action="store_true", help="compare with the bundled modifiers.csv")
    args = parser.parse_args(argv)
    found = read_modifiers(args.hcpcs_file.read_text(encoding="latin-1"))
    if args.compare:
        for line in compare(found, MODIFIERS.read_text(encoding="utf-8")):
            print(line)
    else:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["modifier", "added", "terminated", "short_description"])
        for item in found:
            writer.writerow([item.modifier, item.added.isoformat(),
                             item.terminated.isoformat() if item.terminated else "", item.short_description])
    print(f"{len(found)} modifier records", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
