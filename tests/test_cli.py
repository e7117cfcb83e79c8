"""The command line: the JSON contract, exit codes 0/1/2, and the generated rule docs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cleanclaim.cli import app
from cleanclaim.errors import InputError

EXAMPLES = Path(__file__).parent.parent / "examples"
runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    """Exit status and what was printed; with --json only standard output (input errors go to standard error)."""
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.stdout if "--json" in args else result.output


def test_code_json_follows_the_contract() -> None:
    status, output = run("code", str(EXAMPLES / "pt-visit-97535.yaml"), "--json", "--as-of", "2026-04-01")
    data = json.loads(output)
    (encounter,) = data["encounters"]
    assert encounter["id"] == "PT-2026-0302-01"
    assert encounter["lines"][0] == {"code": "97535", "modifiers": ["GP"], "units": 2, "minutes": 23,
                                     "dx_pointers": [1, 2, 3]}
    assert [line["code"] for line in encounter["lines"]] == ["97535", "97116", "97110"]
    assert sum(line["units"] for line in encounter["lines"]) == 4
    assert encounter["explanation"][0].startswith("Total timed minutes 53 → 4 units")
    assert status in (0, 1)
    assert status == (1 if any(f["severity"] == "error" for f in encounter["findings"]) else 0)


def test_code_human_output_shows_lines_and_arithmetic() -> None:
    _status, output = run("code", str(EXAMPLES / "hbai-intervention.yaml"), "--as-of", "2026-04-01")
    assert "96158" in output
    assert "96159" in output
    assert "45 min" in output


def test_code_exit_2_and_message_for_unreadable_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("encounters:\n  - id: E1\n    patient: {id: P1}\n"
                   "    provider: {npi: \"1234567893\", discipline: PT}\n")
    status, output = run("code", str(bad))
    assert status == 2
    assert "bad.yaml:2" in output
    assert "field date" in output


def test_code_unknown_payer_is_an_input_error(tmp_path: Path) -> None:
    status, output = run("code", str(EXAMPLES / "hbai-intervention.yaml"), "--payer", "acme")
    assert status == 2
    assert "unknown payer profile 'acme'" in output


def test_check_json_summary_and_exit_code_1_for_errors() -> None:
    status, output = run("check", str(EXAMPLES / "coaching-with-deleted-codes.yaml"), "--json",
                         "--as-of", "2026-04-01")
    data = json.loads(output)
    slugs = {f["rule"] for f in data["findings"]}
    assert "deleted-code" in slugs
    deleted = next(f for f in data["findings"] if f["rule"] == "deleted-code" and f["code"] == "96150")
    assert deleted["id"] == "CC103"
    assert "96156" in deleted["fix"]
    assert set(deleted) == {"rule", "id", "severity", "encounter", "line", "code", "message", "fix", "references"}
    assert data["summary"]["errors"] == sum(1 for f in data["findings"] if f["severity"] == "error")
    assert data["summary"]["encounters"] == 1
    assert data["summary"]["lines"] == 3
    assert status == 1


def test_check_select_and_ignore() -> None:
    _, output = run("check", str(EXAMPLES / "coaching-with-deleted-codes.yaml"), "--json", "--as-of",
                    "2026-04-01", "--select", "deleted-code")
    assert {f["rule"] for f in json.loads(output)["findings"]} == {"deleted-code"}
    _status, output = run("check", str(EXAMPLES / "coaching-with-deleted-codes.yaml"), "--json", "--as-of",
                         "2026-04-01", "--ignore", "deleted-code")
    assert "deleted-code" not in {f["rule"] for f in json.loads(output)["findings"]}


def test_check_severity_override_changes_exit_code(tmp_path: Path) -> None:
    visit = tmp_path / "v.yaml"
    visit.write_text("id: E1\ndate: 2026-03-02\npatient: {id: P1}\nprovider: {npi: \"1234567893\", discipline: PT}\n"
                     "diagnoses: [M62.81]\nlines: [{code: \"96152\", units: 1, dx_pointers: [1]}]\n")
    status, _ = run("check", str(visit), "--select", "deleted-code", "--as-of", "2026-04-01")
    assert status == 1
    status, _ = run("check", str(visit), "--select", "deleted-code", "--severity", "deleted-code=warning",
                    "--as-of", "2026-04-01")
    assert status == 0


def test_check_csv_reports_bad_rows_and_checks_the_rest(tmp_path: Path) -> None:
    table = tmp_path / "claims.csv"
    table.write_text("encounter_id,date,code,units,minutes,modifiers,diagnoses,dx_pointers\n"
                     "E1,2026-03-02,96152,1,30,,M62.81,1\n"
                     "E2,not-a-date,97110,1,15,GP,M62.81,1\n")
    status, output = run("check", str(table), "--json", "--as-of", "2026-04-01", "--select", "deleted-code")
    data = json.loads(output)
    assert data["summary"]["rows_read"] == 2
    assert data["summary"]["rows_rejected"] == 1
    assert data["summary"]["rows_checked"] == 1
    assert [f["encounter"] for f in data["findings"]] == ["E1"]
    assert data["errors"][0]["row"] == 3
    assert data["errors"][0]["field"] == "date"
    assert status == 2


def test_rules_and_rule_docs_come_from_the_rule_objects() -> None:
    status, output = run("rules")
    assert status == 0
    assert "CC103" in output
    assert "deleted-code" in output
    status, output = run("rule", "deleted-code")
    assert status == 0
    for heading in ("What it checks", "Why it matters", "Example", "Use instead", "References"):
        assert heading in output
    assert run("rule", "no-such-rule")[0] == 2


@pytest.mark.parametrize(
    ("code", "date", "status", "words"),
    [("96150", "2026-01-01", 1, "deleted on 2020-01-01"), ("96150", "2019-12-31", 0, "valid on 2019-12-31"),
     ("G0136", "2026-02-01", 0, "physical activity"), ("G0136", "2025-02-01", 0, "social-needs"),
     ("97999", "2026-01-01", 1, "not in cleanclaim's code book"), ("9711", "2026-01-01", 1, "not a valid")],
)
def test_lookup(code: str, date: str, status: int, words: str) -> None:
    got_status, output = run("lookup", code, "--date", date)
    assert got_status == status
    assert words in output
    if code == "96150" and status == 1:
        assert "use 96156" in output


def test_export_every_format(tmp_path: Path) -> None:
    charges = tmp_path / "charges.csv"
    charges.write_text("code,charge\n97535,48.00\n97116,46.00\n97110,44.00\n")
    source = str(EXAMPLES / "pt-visit-97535.yaml")
    status, output = run("export", source, "-f", "837p", "-o", str(tmp_path / "c.837"), "--charge-master",
                         str(charges))
    assert status == 0, output
    text = (tmp_path / "c.837").read_text()
    assert text.startswith("ISA")
    assert "SV1*HC:97535:GP*96*UN*2" in text
    status, output = run("export", source, "-f", "fhir", "-o", str(tmp_path / "c.json"), "--charge-master",
                         str(charges))
    assert status == 0, output
    assert json.loads((tmp_path / "c.json").read_text())["resourceType"] == "Bundle"
    for fmt in ("cms1500", "superbill"):
        status, output = run("export", source, "-f", fmt, "-o", str(tmp_path / f"{fmt}.pdf"), "--charge-master",
                             str(charges))
        assert status == 0, output
        assert (tmp_path / f"{fmt}.pdf").read_bytes().startswith(b"%PDF")


def test_export_without_charges_lists_what_is_missing_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "c.837"
    status, output = run("export", str(EXAMPLES / "pt-visit-97535.yaml"), "-f", "837p", "-o", str(target))
    assert status == 2
    assert "charge" in output
    assert not target.exists()


@pytest.mark.parametrize("option", [["--select", "nonsense-rule"], ["--ignore", "deleted-cod"],
                                    ["--severity", "CC999=info"]])
def test_unknown_rule_names_are_input_errors_not_a_clean_report(option: list[str]) -> None:
    status, output = run("check", str(EXAMPLES / "coaching-with-deleted-codes.yaml"), *option)
    assert status == 2
    assert "unknown rule" in output


def test_an_exported_837p_checks_clean_like_its_encounter(tmp_path: Path) -> None:
    target = tmp_path / "pt.837"
    status, output = run("export", str(EXAMPLES / "pt-visit-97535.yaml"), "-f", "837p", "-o", str(target),
                         "--charge-master", str(EXAMPLES / "practice" / "charge-master.csv"))
    assert status == 0, output
    status, output = run("check", str(target), "--json", "--as-of", "2026-04-01")
    data = json.loads(output)
    assert data["findings"] == []
    assert data["summary"]["lines"] == 3
    assert status == 0


def test_the_examples_folder_reads_whole_and_shows_findings() -> None:
    # `make run` relies on this: every example reads (no exit 2) and the seed-article mistakes are errors (exit 1).
    status, output = run("check", str(EXAMPLES), "--json", "--as-of", "2026-04-01")
    data = json.loads(output)
    assert "errors" not in data
    assert data["summary"]["encounters"] == 6
    assert status == 1


# --- exit statuses: 0 clean, 1 error findings, 2 unreadable input, 3 a bug in cleanclaim (never 1) -------------------


def _boom(*_args: object, **_kwargs: object) -> None:
    # the text of an unexpected exception may quote input (here a birth date): it must never reach the user
    raise ValueError("could not handle birth date 1950-01-01")


@pytest.mark.parametrize(
    ("args", "status"),
    [(("check", str(EXAMPLES / "hbai-intervention.yaml")), 0),
     (("check", str(EXAMPLES / "coaching-with-deleted-codes.yaml")), 1),
     (("check", str(EXAMPLES / "no-such-file.yaml")), 2)],
)
def test_check_exit_status_follows_the_contract(args: tuple[str, ...], status: int) -> None:
    assert run(*args, "--as-of", "2026-04-01")[0] == status


@pytest.mark.parametrize(
    ("command", "target"),
    [("check", "cleanclaim.scrub.check"), ("code", "cleanclaim.scrub.code"),
     ("price", "cleanclaim.scrub.billable_encounters")],
)
def test_an_internal_failure_exits_3_with_one_line_naming_the_file(
        command: str, target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(target, _boom)
    file = str(EXAMPLES / "hbai-intervention.yaml")
    status, output = run(command, file)
    assert status == 3
    (message,) = [line for line in output.splitlines() if line.strip()]
    assert "bug in cleanclaim" in message
    assert "ValueError" in message
    assert file in message
    assert "1950-01-01" not in output


def test_the_console_script_exits_3_on_a_failure_outside_any_command(monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from cleanclaim import cli

    monkeypatch.setattr(cli, "app", _boom)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 3
    assert "bug in cleanclaim" in capsys.readouterr().err


def test_the_console_script_keeps_the_command_status(monkeypatch: pytest.MonkeyPatch) -> None:
    from cleanclaim import cli

    monkeypatch.setattr("sys.argv", ["cleanclaim", "check", str(EXAMPLES / "coaching-with-deleted-codes.yaml"),
                                     "--as-of", "2026-04-01", "--json"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 1


# --- option values: a typo is an input error (exit 2) that names the option, never a traceback ---------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [(("check", str(EXAMPLES / "hbai-intervention.yaml"), "--as-of", "9999-12-01"), "--as-of 9999-12-01 is outside"),
     (("check", str(EXAMPLES / "hbai-intervention.yaml"), "--as-of", "1989-12-31"), "--as-of 1989-12-31 is outside"),
     (("code", str(EXAMPLES / "hbai-intervention.yaml"), "--as-of", "20260401"), "--as-of expects a date"),
     (("code", str(EXAMPLES / "hbai-intervention.yaml"), "--as-of", "2026-02-30"), "--as-of expects a date"),
     (("lookup", "97110", "--date", "0001-01-01"), "--date 0001-01-01 is outside"),
     (("price", str(EXAMPLES / "hbai-intervention.yaml"), "--deductible", "abc"), "--deductible expects"),
     (("price", str(EXAMPLES / "hbai-intervention.yaml"), "--deductible", "NaN"), "--deductible expects"),
     (("price", str(EXAMPLES / "hbai-intervention.yaml"), "--deductible", "10.001"), "--deductible expects"),
     (("price", str(EXAMPLES / "hbai-intervention.yaml"), "--deductible", "1e9"), "--deductible expects"),
     (("price", str(EXAMPLES / "hbai-intervention.yaml"), "--deductible", "1_000"), "--deductible expects"),
     (("price", str(EXAMPLES / "hbai-intervention.yaml"), "--deductible", "1000000"), "--deductible must be"),
     (("check", str(EXAMPLES / "hbai-intervention.yaml"), "--payers-dir", "no-such-folder"), "--payers-dir"),
     (("code", str(EXAMPLES / "hbai-intervention.yaml"), "--payers-dir", str(EXAMPLES / "hbai-intervention.yaml")),
      "--payers-dir"),
     (("price", str(EXAMPLES / "hbai-intervention.yaml"), "--deductible", "-1"), "--deductible must be"),
     (("export", str(EXAMPLES / "hbai-intervention.yaml"), "-f", "837p", "-o", "x.837", "--control-number", "abc"),
      "--control-number"),
     (("data", "import", "x.txt", "--fiscal-year", "1e3"), "--fiscal-year"),
     (("data", "import", "x.txt", "--period", "9999Q4"), "--period 9999Q4")],
)
def test_bad_option_values_exit_2_with_the_option_named(args: tuple[str, ...], words: str) -> None:
    status, output = run(*args)
    assert status == 2, output
    assert words in output


def test_the_run_date_bounds_are_inclusive() -> None:
    for day in ("1990-01-01", "2199-12-31"):
        assert run("check", str(EXAMPLES / "hbai-intervention.yaml"), "--as-of", day, "--json")[0] in (0, 1)


def test_price_with_an_unreadable_record_prices_the_rest_and_exits_2(tmp_path: Path) -> None:
    folder = tmp_path / "visits"
    folder.mkdir()
    (folder / "good.yaml").write_text((EXAMPLES / "hbai-intervention.yaml").read_text())
    (folder / "broken.yaml").write_text("id: E9\ndate: [unclosed\n")
    result = runner.invoke(app, ["price", str(folder), "--json"])
    assert result.exit_code == 2
    assert "broken.yaml" in result.stderr
    assert json.loads(result.stdout)["lines"]


@pytest.mark.parametrize("command", ["code", "check"])
@pytest.mark.parametrize(("text", "words"), [("ignore = [\n", "not valid TOML"),
                                             ('severity = "x"\n', "field severity"),
                                             ("payer = []\n", "field payer"), ("select = 3\n", "field select")])
def test_a_broken_settings_file_is_an_input_error_in_code_and_check(
        command: str, text: str, words: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cleanclaim.toml").write_text(text)
    monkeypatch.chdir(tmp_path)
    status, output = run(command, str(EXAMPLES / "hbai-intervention.yaml"))
    assert status == 2
    assert "cleanclaim.toml" in output
    assert words in output


def test_a_settings_payers_dir_that_is_not_a_folder_is_an_input_error(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cleanclaim.toml").write_text('payers_dir = "payers"\n')
    monkeypatch.chdir(tmp_path)
    for command in ("code", "check"):
        status, output = run(command, str(EXAMPLES / "hbai-intervention.yaml"))
        assert status == 2
        assert "cleanclaim.toml: field payers_dir" in output
    (tmp_path / "payers").mkdir()
    assert run("check", str(EXAMPLES / "hbai-intervention.yaml"), "--as-of", "2026-04-01")[0] == 0


def test_a_charge_master_that_is_not_text_is_an_input_error(tmp_path: Path) -> None:
    master = tmp_path / "charges.csv"
    master.write_bytes(b"97110,\xff\xfe\n")
    status, output = run("price", str(EXAMPLES / "hbai-intervention.yaml"), "--charge-master", str(master))
    assert status == 2
    assert "charges.csv: cannot read the charge master: expected UTF-8 text" in output


@pytest.mark.parametrize("command", ["code", "check", "price", "export"])
def test_a_file_name_the_system_cannot_look_up_is_an_input_error(command: str) -> None:
    name = "x" * 5000 + ".yaml"  # longer than any file system's name limit
    extra = ["-f", "fhir", "-o", "out.json"] if command == "export" else []
    status, output = run(command, name, *extra)
    assert status == 2
    assert "File name too long" in output


def test_a_claim_table_name_too_long_is_an_input_error_in_the_api() -> None:
    from cleanclaim.formats.claim_table import read_claim_table

    with pytest.raises(InputError, match="cannot read the table"):
        read_claim_table("x" * 5000 + ".csv")


@pytest.mark.parametrize(("args", "status", "words"), [(("lookup", "[/]"), 1, "[/] is not a valid code format"),
                                                       (("rule", "[/]x"), 2, "no rule '[/]x'")])
def test_markup_in_a_command_line_value_is_printed_as_text(args: tuple[str, ...], status: int, words: str) -> None:
    got, output = run(*args)
    assert got == status
    assert words in output


@pytest.mark.parametrize("command", ["code", "check", "price"])
def test_markup_in_an_encounter_id_is_printed_as_text(command: str, tmp_path: Path) -> None:
    source = (EXAMPLES / "coaching-with-deleted-codes.yaml").read_text()
    assert source.count("- id: ") == 1
    marked = tmp_path / "marked.yaml"
    marked.write_text(source.replace("- id: ", "- id: '[/]x[bold]' # was ", 1))
    args = [command, str(marked)] + (["--as-of", "2026-04-01"] if command != "price" else [])
    status, output = run(*args)
    assert status in (0, 1)
    assert "[/]x[bold]" in output


def test_a_table_without_patient_ids_is_noted_once_and_does_not_change_the_exit_status(tmp_path: Path) -> None:
    table = tmp_path / "claims.csv"
    table.write_text("encounter_id,date,code,modifiers,units,minutes,diagnoses,dx_pointers\n"
                     + "".join(f"E{i},2026-03-02,97110,GP,1,8,M62.81,1\n" for i in range(3)))
    result = runner.invoke(app, ["check", str(table), "--json", "--as-of", "2026-04-01"])
    data = json.loads(result.stdout)
    assert [note["field"] for note in data["notes"]] == ["patient_id"]
    assert "errors" not in data
    assert result.exit_code == (1 if data["summary"]["errors"] else 0)
    assert result.stderr.count("no patient_id column") == 1


SHORT_COUNSELING = ("id: E1\ndate: 2026-03-02\npayer: medicare\npatient: {id: P1, birth_date: 1950-01-01}\n"
                    "provider: {npi: \"1234567893\", discipline: MD}\ndiagnoses: [F17.210]\n"
                    "services:\n  - {code: \"99406\", minutes: 3}\n  - {code: \"99213\"}\n")


@pytest.mark.parametrize("option", [["--ignore", "CC303"], ["--ignore", "below-minimum-time"],
                                    ["--select", "deleted-code"]])
def test_check_selection_applies_to_the_coders_findings(tmp_path: Path, option: list[str]) -> None:
    # issue 14 item 12: the coder's own below-minimum-time finding (3 minutes of 99406) used to survive --ignore
    visit = tmp_path / "v.yaml"
    visit.write_text(SHORT_COUNSELING)
    status, output = run("check", str(visit), "--json", "--as-of", "2026-04-01", *option)
    rules = {f["rule"] for f in json.loads(output)["findings"]}
    assert "below-minimum-time" not in rules
    assert status == 0


def test_check_severity_override_applies_to_the_coders_findings(tmp_path: Path) -> None:
    visit = tmp_path / "v.yaml"
    visit.write_text(SHORT_COUNSELING)
    _, output = run("check", str(visit), "--json", "--as-of", "2026-04-01", "--severity", "CC303=error")
    (finding,) = [f for f in json.loads(output)["findings"] if f["rule"] == "below-minimum-time"]
    assert finding["severity"] == "error"
    _, output = run("check", str(visit), "--json", "--as-of", "2026-04-01")
    (finding,) = [f for f in json.loads(output)["findings"] if f["rule"] == "below-minimum-time"]
    assert finding["severity"] == "info"  # nothing was billed for the 3 minutes: a notice, not an error


def _code_findings(*options: str) -> tuple[int, list[tuple[str, str]]]:
    status, output = run("code", str(EXAMPLES / "coaching-with-deleted-codes.yaml"), "--json", "--as-of",
                         "2026-04-01", *options)
    data = json.loads(output)
    return status, [(f["rule"], f["severity"]) for e in data["encounters"] for f in e["findings"]]


def test_code_takes_select_ignore_and_severity_like_check() -> None:
    # issue 14 item 12: `code` runs the catalogue on the lines it coded; the rule options of `check` apply there too
    status, findings = _code_findings()
    assert ("provider-not-eligible", "error") in findings and status == 1
    status, findings = _code_findings("--ignore", "provider-not-eligible")
    assert "provider-not-eligible" not in {rule for rule, _ in findings}
    assert ("note-not-signed", "warning") in findings
    assert status == 0
    status, findings = _code_findings("--severity", "provider-not-eligible=warning")
    assert ("provider-not-eligible", "warning") in findings
    assert "error" not in {severity for _, severity in findings} and status == 0
    status, findings = _code_findings("--select", "note-not-signed")
    assert {rule for rule, _ in findings} == {"note-not-signed"}


def test_code_rejects_a_malformed_severity_like_check() -> None:
    status, output = run("code", str(EXAMPLES / "coaching-with-deleted-codes.yaml"), "--severity", "CC103=loud")
    assert status == 2
    assert "--severity expects RULE=error|warning|info" in output
