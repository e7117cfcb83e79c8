"""``cleanclaim serve`` (the web workspace) and ``cleanclaim user create`` (an account, e.g. the first admin).

Passwords never go on the command line (it is visible to other users in the process list and kept in shell
history): ``user create`` prompts for it, or reads it from ``--password-file``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from cleanclaim.commands.output import console, error_console
from cleanclaim.lifecycle import Role

__all__ = ["register"]

user_app = typer.Typer(help="Manage workspace accounts.", no_args_is_help=True)


def _serve(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Start the billing workspace (web pages and /api/v1). The database is $CLEANCLAIM_DATABASE_URL, else a SQLite
    file in the data directory; it is migrated on start, and an empty one gets a first admin whose sign-in is
    printed once."""
    import logging

    import uvicorn

    from cleanclaim.store.database import database_url, make_engine, migrate, session_factory
    from cleanclaim.web import WebSettings, create_app
    from cleanclaim.web.start import first_start

    url = database_url()
    console.print(f"database: {escape(url.render_as_string(hide_password=True))}")
    engine = make_engine(url)
    migrate(engine)
    created = first_start(session_factory(engine))
    if created is not None:
        console.print(escape(created.announcement(f"http://{host}:{port}")), style="bold")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # uvicorn's access log would print query strings (a search may hold a patient's name): the app logs requests
    # itself, with the request id and user id only
    try:
        uvicorn.run(create_app(engine, settings=WebSettings.from_env()), host=host, port=port, access_log=False)
    finally:  # close the pool's connections cleanly (the exit handler's gc.freeze finalises no garbage)
        engine.dispose()


def _read_password(password_file: Path | None) -> str:
    if password_file is not None:
        try:
            return password_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            error_console.print(f"cannot read the password file {escape(str(password_file))}: {exc.strerror}")
            raise typer.Exit(2) from exc
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@user_app.command("create")
def _create_user(
    org: Annotated[str, typer.Option("--org", help="Organisation name; created when it does not exist yet.")],
    email: Annotated[str, typer.Option("--email", help="The user's email (their sign-in).")],
    role: Annotated[Role, typer.Option("--role", help="admin, biller, clinician or auditor.")] = Role.ADMIN,
    password_file: Annotated[Path | None, typer.Option(
        "--password-file", help="Read the password from this file (first line) instead of a prompt.")] = None,
) -> None:
    """Create a user of an organisation (the first admin of a new one, typically)."""
    from sqlalchemy import select

    from cleanclaim.store.accounts import AccountError, create_organisation, create_user
    from cleanclaim.store.database import make_engine, migrate, session_factory
    from cleanclaim.store.models import Organisation
    from cleanclaim.store.tenant import Tenant

    password = _read_password(password_file)
    engine = make_engine()
    try:
        migrate(engine)
        with session_factory(engine)() as session, session.begin():
            organisation = session.scalars(select(Organisation).where(Organisation.name == org.strip())).first()
            made = organisation is None
            if organisation is None:
                organisation = create_organisation(session, org)
            user = create_user(Tenant(session, organisation.id), email=email, password=password, role=role)
            console.print(f"created {escape(user.email)} ({user.role}) in {escape(organisation.name)}"
                          + (" (new organisation)" if made else ""))
    except AccountError as exc:
        error_console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()


def register(app: typer.Typer) -> None:
    """Add ``serve`` and the ``user`` group to the CLI."""
    app.command("serve")(_serve)
    app.add_typer(user_app, name="user")
