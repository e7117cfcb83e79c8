"""cloned-note in a batch audit: notes in a claim-line table's `note` column are compared across every partition
(a provider's patients are spread over partitions cut by patient), and audit finds what check finds."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import polars as pl
import pytest

from cleanclaim.audit.run import audit
from cleanclaim.rules.engine import RuleSelection
from cleanclaim.scrub import check

AS_OF = dt.date(2026, 9, 30)
NOTE = ("{date} S: pt reports stiffness in R knee after walking in the morning, {pain}/10. O: therapeutic exercise "
        "{minutes} min one-on-one: quad sets 3x{reps}, straight leg raises 3x{reps}, heel slides 2x15, mini squats "
        "at counter 2x10 with verbal cues for form. A: tolerated treatment well, progressing toward goals. P: "
        "continue plan of care 2x/week. Dana Okafor, PT")


def _word(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9)))


def _rows() -> list[dict[str, str]]:
    rng = random.Random(13)
    rows = []
    for number in range(12):
        cloned = number in (2, 7, 11)  # three patients of one provider, the same note with its numbers changed
        # the others: words of their own (letters only: numbers are set aside before notes are compared)
        note = NOTE.format(date=f"09/{number + 1:02d}/2026", pain=number % 9 + 1, minutes=20 + number,
                           reps=10 + number) if cloned else " ".join(_word(rng) for _ in range(40))
        rows.append({"encounter_id": f"E{number:02d}", "date": "2026-09-01", "payer": "medicare",
                     "place_of_service": "11", "patient_id": f"P{number:02d}", "provider_npi": "1234567893",
                     "provider_discipline": "PT", "diagnoses": "M62.81", "code": "97110", "modifiers": "GP",
                     "units": "1", "minutes": "15", "dx_pointers": "1", "charge": "45.00", "note": note})
    return rows


@pytest.mark.parametrize("held", [True, False], ids=["held", "through-scratch-files"])
def test_audit_compares_notes_across_partitions_as_check_does(tmp_path: Path, held: bool,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    if not held:  # partitions in scratch files, of which only those with a note are read for the notes
        monkeypatch.setattr("cleanclaim.audit.run.IN_MEMORY_ROWS", 0)
    rows = _rows()
    # patients without a note: partitions with no note beside those with one
    rows += [{**rows[0], "encounter_id": f"N{number:02d}", "patient_id": f"Q{number:02d}", "note": ""}
             for number in range(12)]
    table = tmp_path / "claims.csv"
    pl.DataFrame(rows).write_csv(table)
    whole = check(table, as_of=AS_OF)
    flagged_by_check = sorted(f.encounter for f in whole.findings if f.rule == "cloned-note")
    assert flagged_by_check == ["E02", "E07", "E11"]
    # one line per partition: every patient in a partition of their own
    result = audit([table], tmp_path / "out", as_of=AS_OF, partition_rows=1)
    findings = pl.read_parquet(tmp_path / "out" / "findings.parquet").filter(pl.col("rule") == "cloned-note")
    assert sorted(findings.get_column("encounter").to_list()) == flagged_by_check
    assert findings.get_column("provider_npi").unique().to_list() == ["1234567893"]
    assert all("same provider" in message for message in findings.get_column("message").to_list())
    assert result.summary["rows_read"] == 24


def test_audit_without_notes_or_with_the_rule_ignored_has_no_cloned_note(tmp_path: Path) -> None:
    rows = _rows()
    table = tmp_path / "claims.csv"
    pl.DataFrame(rows).write_csv(table)
    audit([table], tmp_path / "ignored", as_of=AS_OF, partition_rows=1,
          selection=RuleSelection(ignore=frozenset({"cloned-note"})))
    ignored = pl.read_parquet(tmp_path / "ignored" / "findings.parquet")
    assert ignored.filter(pl.col("rule") == "cloned-note").height == 0
    bare = tmp_path / "bare.csv"
    pl.DataFrame([{k: v for k, v in row.items() if k != "note"} for row in rows]).write_csv(bare)
    audit([bare], tmp_path / "bare", as_of=AS_OF, partition_rows=1)
    assert pl.read_parquet(tmp_path / "bare" / "findings.parquet").filter(pl.col("rule") == "cloned-note").height == 0
