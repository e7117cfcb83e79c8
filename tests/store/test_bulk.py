"""`store.bulk.append_rows` (COPY on PostgreSQL, the driver's executemany on SQLite) writes exactly the rows a Core
insert writes, on both databases: text that COPY's format must escape, nulls, JSON lists and objects, UTC times.
`insert_each` (one INSERT ... SELECT ... RETURNING) and `update_by_id` write what they are given, where allowed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Float, Table, Text, cast, insert, select
from sqlalchemy.orm import Session

from cleanclaim.store import models as m
from cleanclaim.store.bulk import among, append_rows, insert_each, read_frame, update_by_id
from tests.store.conftest import Graph, version

# what COPY's text format treats specially (tab, newline, backslash, "\N") and what JSON must escape
AWKWARD = ["plain", "tab\there", "new\nline", "back\\slash \\N", 'quote " and \u00e9\u4e2d', "", "\\."]


def _table(model: type[m.Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _finding_rows(run_id: int) -> list[tuple[Any, ...]]:
    rows = []
    for n, text in enumerate(AWKWARD):
        references: tuple[str, ...] = () if n % 3 == 0 else (text, "CMS Pub. 100-04 Ch. 5 s10.3")
        rows.append((run_id, f"rule-{n}", f"CC{n:03d}", ("error", "warning", "info")[n % 3],
                     None if n % 2 else n, None if n % 4 == 0 else "97110", f"message {text}", text, references))
    return rows


_FINDING_COLUMNS = ("scrub_run_id", "rule", "rule_id", "severity", "line", "code", "message", "fix", "references")
_READ = ("rule", "rule_id", "severity", "line", "code", "message", "fix", "references", "overridden_by_id")


def _run(session: Session, graph: Graph) -> int:
    run = m.ScrubRun(organisation_id=graph.id, claim_version_id=graph.version.id, as_of=dt.date(2026, 6, 30))
    session.add(run)
    session.flush()
    return run.id


def _findings(session: Session, run_id: int) -> list[tuple[Any, ...]]:
    c = _table(m.FindingRecord).c
    return [tuple(row) for row in session.execute(
        select(*(c[name] for name in _READ)).where(c.scrub_run_id == run_id).order_by(c.id))]


def test_appended_findings_read_back_as_a_core_insert_of_the_same_rows(session: Session) -> None:
    graph = Graph(session)
    by_core, by_bulk = _run(session, graph), _run(session, graph)
    connection = session.connection()
    table = _table(m.FindingRecord)
    connection.execute(insert(table), [
        {"organisation_id": graph.id, **dict(zip(_FINDING_COLUMNS, row, strict=True)),
         "references": list(row[-1])} for row in _finding_rows(by_core)])
    written = append_rows(connection, table, _FINDING_COLUMNS, _finding_rows(by_bulk),
                          constants={"organisation_id": graph.id})
    assert written == len(AWKWARD)
    expected = _findings(session, by_core)
    assert len(expected) == len(AWKWARD)
    assert _findings(session, by_bulk) == expected
    # and the values are the ones given, not merely equal on both paths
    assert [row[5] for row in expected] == [f"message {text}" for text in AWKWARD]
    assert expected[1][7] == [AWKWARD[1], "CMS Pub. 100-04 Ch. 5 s10.3"] and expected[0][7] == []


def test_appended_audit_events_keep_json_nulls_objects_and_utc_times(session: Session) -> None:
    graph = Graph(session)
    at = dt.datetime(2026, 6, 30, 14, 5, 6, 789, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    shared = {"state": "coded"}
    rows = [(f"bulk-{n}", shared if n % 2 else None, {"state": "scrubbed", "n": n, "text": text})
            for n, text in enumerate(AWKWARD)]
    append_rows(session.connection(), _table(m.AuditEvent), ("entity_id", "before", "after"), rows,
                constants={"organisation_id": graph.id, "user_id": graph.user.id, "at": at,
                           "entity": "claim_version", "action": "scrub"})
    c = _table(m.AuditEvent).c
    read = session.execute(select(c.entity_id, c.before, c.after, c.at, c.user_id, c.action).where(
        c.organisation_id == graph.id, c.entity_id.like("bulk-%")).order_by(c.id)).all()
    assert [tuple(row[:3]) for row in read] == rows
    assert {row[3] for row in read} == {at.astimezone(dt.UTC)}  # stored in UTC, read back aware
    assert {(row[4], row[5]) for row in read} == {(graph.user.id, "scrub")}


def test_nothing_to_append_writes_nothing(session: Session) -> None:
    assert append_rows(session.connection(), _table(m.FindingRecord), _FINDING_COLUMNS, []) == 0


def test_rows_appended_in_a_savepoint_go_with_it(session: Session) -> None:
    graph = Graph(session)
    run_id = _run(session, graph)
    seen: list[int] = []

    def append_then_fail() -> None:
        with session.begin_nested():
            append_rows(session.connection(), _table(m.FindingRecord), _FINDING_COLUMNS, _finding_rows(run_id),
                        constants={"organisation_id": graph.id})
            seen.append(len(_findings(session, run_id)))
            raise RuntimeError("undo")

    with pytest.raises(RuntimeError):
        append_then_fail()
    assert seen == [len(AWKWARD)]  # they were there inside the savepoint
    assert _findings(session, run_id) == []


def test_among_takes_more_ids_than_sqlite_takes_parameters(session: Session) -> None:
    graph, other = Graph(session), Graph(session, pcn="CLM-0002")
    c = _table(m.ClaimVersion).c
    connection = session.connection()

    def found(ids: list[int]) -> list[int]:
        return list(session.scalars(select(c.id).where(among(connection, c.id, ids)).order_by(c.id)))

    many = [graph.version.id, *range(10**9, 10**9 + 40_000)]  # over SQLite's 32,766 bound parameters
    assert found(many) == [graph.version.id]
    assert found([other.version.id, graph.version.id]) == sorted([graph.version.id, other.version.id])
    assert found([]) == []


def test_insert_each_adds_a_row_per_id_with_the_constants_and_returns_each_new_id(session: Session) -> None:
    graph = Graph(session)
    replacement = version(session, graph.claim, "CLM-0001", number=2, frequency="7", current=False)
    at = dt.datetime(2026, 6, 30, 14, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    table = _table(m.ScrubRun)
    given = [replacement.id, graph.version.id]
    pairs = insert_each(session.connection(), table, "claim_version_id", given,
                        constants={"organisation_id": graph.id, "as_of": dt.date(2026, 6, 1),
                                   "ran_by_id": graph.user.id, "ran_at": at})
    assert sorted(version for version, _ in pairs) == sorted(given)
    c = table.c
    read = {row[0]: tuple(row[1:]) for row in session.execute(
        select(c.id, c.claim_version_id, c.organisation_id, c.as_of, c.ran_by_id, c.ran_at)
        .where(c.id.in_([run for _, run in pairs])))}
    assert {run: read[run][0] for _, run in pairs} == {run: version for version, run in pairs}
    assert {read[run][1:] for _, run in pairs} == {
        (graph.id, dt.date(2026, 6, 1), graph.user.id, at.astimezone(dt.UTC))}
    assert insert_each(session.connection(), table, "claim_version_id", [], constants={}) == []


def test_update_by_id_sets_each_row_its_value_and_only_where_allowed(session: Session) -> None:
    graph, second, foreign = Graph(session), Graph(session, pcn="CLM-0002"), Graph(session, pcn="CLM-0003")
    made = {g.version.id: _run(session, g) for g in (graph, second, foreign)}  # the ORM event points at these
    runs = {version_id: run + 10**6 for version_id, run in made.items()}  # values no row holds yet
    table = _table(m.ClaimVersion)
    at = dt.datetime(2026, 7, 1, 9, 30, tzinfo=dt.UTC)
    # the foreign version's id is given too, but the where clause keeps it out (as the organisation scope does)
    allowed = (table.c.organisation_id == graph.id) | (table.c.organisation_id == second.id)
    update_by_id(session.connection(), table, "latest_scrub_run_id", runs, where=allowed,
                 constants={"state": "scrubbed", "state_changed_at": at})
    c = table.c
    read = {row[0]: tuple(row[1:]) for row in session.execute(
        select(c.id, c.latest_scrub_run_id, c.state, c.state_changed_at).where(c.id.in_(list(runs))))}
    assert read[graph.version.id] == (runs[graph.version.id], "scrubbed", at)
    assert read[second.version.id] == (runs[second.version.id], "scrubbed", at)
    assert read[foreign.version.id][:2] == (made[foreign.version.id], "draft")


def test_read_frame_reads_what_the_driver_reads(session: Session) -> None:
    # on PostgreSQL through COPY as CSV: awkward text (quotes, newlines, tabs, backslashes, non-ASCII), NULLs in
    # text and integer columns, JSON as text, a date and a float, as the driver's rows give them
    graph = Graph(session)
    run_id = _run(session, graph)
    connection = session.connection()
    append_rows(connection, _table(m.FindingRecord), _FINDING_COLUMNS, _finding_rows(run_id),
                constants={"organisation_id": graph.id})
    c, run_table = _table(m.FindingRecord).c, _table(m.ScrubRun)
    runs = run_table.c
    statement = (select(c.id, c.rule, c.line, c.code, c.message, cast(c.references, Text), runs.as_of,
                        cast(c.scrub_run_id, Float))
                 .join(run_table, runs.id == c.scrub_run_id)
                 .where(c.organisation_id == graph.id, among(connection, c.scrub_run_id, [run_id]))
                 .order_by(c.id))
    schema = {"id": pl.Int64, "rule": pl.String, "line": pl.Int64, "code": pl.String, "message": pl.String,
              "references": pl.String, "as_of": pl.Date, "run": pl.Float64}
    expected = [tuple(row) for row in session.execute(statement)]
    frame = read_frame(connection, statement, schema)
    assert frame.schema == pl.Schema(schema)
    assert frame.rows() == expected and len(expected) == len(AWKWARD)
    assert [row[4] for row in expected] == [f"message {text}" for text in AWKWARD]
    assert {row[2] for row in expected} >= {None} and {row[3] for row in expected} >= {None, "97110"}
    empty = read_frame(connection, statement.where(c.id < 0), schema)
    assert empty.height == 0 and empty.schema == pl.Schema(schema)
