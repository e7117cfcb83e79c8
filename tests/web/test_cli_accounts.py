"""``cleanclaim user create``: the password from a file or a prompt, never an option."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cleanclaim.cli import app
from cleanclaim.store.accounts import authenticate
from cleanclaim.store.database import make_engine, session_factory


def test_user_create_from_a_password_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("CLEANCLAIM_DATABASE_URL", url)
    secret = tmp_path / "pw"
    secret.write_text("a long admin password\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["user", "create", "--org", "Harbor PT", "--email", "Boss@Harbor.test",
                                      "--role", "admin", "--password-file", str(secret)])
    assert result.exit_code == 0, result.output
    assert "boss@harbor.test (admin) in Harbor PT (new organisation)" in result.output
    engine = make_engine(url)
    with session_factory(engine)() as session:
        assert authenticate(session, "boss@harbor.test", "a long admin password") is not None
    engine.dispose()
    short = tmp_path / "short"
    short.write_text("short\n", encoding="utf-8")
    refused = CliRunner().invoke(app, ["user", "create", "--org", "Harbor PT", "--email", "b@harbor.test",
                                       "--password-file", str(short)])
    assert refused.exit_code == 2
    assert "at least 12 characters" in refused.output


def test_user_create_prompts_and_has_no_password_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEANCLAIM_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    result = CliRunner().invoke(app, ["user", "create", "--org", "X", "--email", "x@x.test"],
                                input="a long admin password\na long admin password\n")
    assert result.exit_code == 0, result.output
    assert "a long admin password" not in result.output  # hidden input is not echoed
    assert CliRunner().invoke(app, ["user", "create", "--org", "X", "--email", "y@x.test", "--password", "p"]
                              ).exit_code == 2
