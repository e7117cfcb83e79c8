"""cleanclaim.toml and [tool.cleanclaim]: rule selection and severities an organisation sets once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cleanclaim.errors import InputError
from cleanclaim.model import Severity
from cleanclaim.rules.registry import get_rule
from cleanclaim.settings import find_settings, load_settings


def test_cleanclaim_toml_is_found_from_a_subdirectory(tmp_path: Path) -> None:
    (tmp_path / "cleanclaim.toml").write_text('ignore = ["category-iii-code"]\npayer = "commercial"\n'
                                              'payers_dir = "payers"\n[severity]\nmissing-minutes = "error"\n')
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    settings = find_settings(nested)
    assert settings.payer == "commercial"
    assert settings.payers_dir == tmp_path / "payers"
    selection = settings.selection()
    assert not selection.enabled(get_rule("category-iii-code"))
    assert selection.enabled(get_rule("deleted-code"))
    assert selection.severity_of(get_rule("missing-minutes")) is Severity.ERROR


def test_pyproject_tool_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.cleanclaim]\nselect = ["code validity"]\n')
    selection = find_settings(tmp_path).selection()
    assert selection.enabled(get_rule("deleted-code"))
    assert not selection.enabled(get_rule("missing-minutes"))


def test_command_line_wins_over_the_file(tmp_path: Path) -> None:
    (tmp_path / "cleanclaim.toml").write_text('select = ["deleted-code"]\n[severity]\ndeleted-code = "warning"\n')
    selection = find_settings(tmp_path).selection(select=["CC304"], severity={"deleted-code": Severity.INFO})
    assert selection.enabled(get_rule("missing-minutes"))
    assert not selection.enabled(get_rule("deleted-code"))
    assert selection.severity_of(get_rule("deleted-code")) is Severity.INFO


@pytest.mark.parametrize(
    ("text", "words"),
    [('[severity]\ndeleted-code = "fatal"\n', "error, warning or info"), ('ignore = "x"\n', "must be a list"),
     ('colour = "red"\n', "unknown setting"), ("ignore = [\n", "not valid TOML")],
)
def test_bad_settings_are_input_errors(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "cleanclaim.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=words):
        load_settings(path)


def test_no_settings_file_means_defaults(tmp_path: Path) -> None:
    assert find_settings(tmp_path).selection().enabled(get_rule("deleted-code"))


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [("select = 3\n", "select", "a list of rule slugs, ids or families (strings), got an integer"),
     ('select = ["deleted-code", 3]\n', "select", "got an array"),
     ("payer = []\n", "payer", "a non-empty string, got an array"),
     ('payer = ""\n', "payer", "a non-empty string, got a string"),
     ("payers_dir = 1979-05-27\n", "payers_dir", "a non-empty string, got a date or time"),
     ('severity = "x"\n', "severity", "must be a table"),
     ("[severity]\ndeleted-code = 3\n", "severity.deleted-code", "error, warning or info"),
     ("[severity]\ndeleted-code = [1]\n", "severity.deleted-code", "error, warning or info")],
)
def test_wrong_value_types_name_the_key_and_the_type_expected(tmp_path: Path, text: str, key: str,
                                                              words: str) -> None:
    path = tmp_path / "cleanclaim.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=re.escape(words)) as raised:
        load_settings(path)
    assert raised.value.field == key
    assert raised.value.file == str(path)


@pytest.mark.parametrize(
    ("text", "key"),
    [('[tool]\ncleanclaim = 3\n', "tool.cleanclaim"), ('[tool.cleanclaim]\npayer = 7\n', "tool.cleanclaim.payer")],
)
def test_wrong_types_in_pyproject_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(InputError) as raised:
        find_settings(tmp_path)
    assert raised.value.field == key


def test_an_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "cleanclaim.toml"
    path.write_bytes(b'payer = "\xff"\n')
    with pytest.raises(InputError, match="not UTF-8"):
        load_settings(path)
    with pytest.raises(InputError, match="cannot read the settings file"):
        load_settings(tmp_path / "missing.toml")
