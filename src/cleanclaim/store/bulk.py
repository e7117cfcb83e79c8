"""Appending many rows to one table at the speed of the database's own bulk path: COPY on PostgreSQL, the driver's
executemany on SQLite.

A batch scrub of 10,000 claims writes about 10,000 findings and 10,000 audit events. Through a Core executemany,
SQLAlchemy builds a parameter dict and runs every column's bind processor per row (about half of the store phase);
here each column's processor (the model's own: JSON text, UTC timestamps, fixed-point checks) runs once per
distinct value where the values are hashable, and the rows go to the driver as tuples. What reaches the database is
exactly what a Core insert would have sent (tests/store/test_bulk.py compares the rows read back).

Only for plain appends: no RETURNING, no defaults filled in (name every column the table needs), no ORM events.
The rows join the caller's transaction (the same connection), so a savepoint around the call still undoes them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import polars as pl
from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    FromClause,
    Integer,
    Select,
    String,
    Table,
    Update,
    any_,
    bindparam,
    cast,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.types import UserDefinedType

__all__ = ["among", "append_rows", "insert_each", "read_frame", "update_by_id"]

_Processor = Callable[[Any], Any]


def _processor(table: Table, name: str, connection: Connection) -> _Processor | None:
    """The column type's bind processor for this dialect (None when the driver takes the value as it is).

    A JSON column on PostgreSQL gets the JSON text itself, not the driver's ``Json`` wrapper that SQLAlchemy's
    processor returns: COPY would serialise the wrapper again for every row, so a value shared by many rows (one
    rule's references) was encoded once per row. The text is what the wrapper writes: ``json.dumps`` of the value,
    ``null`` for None unless the column keeps None as SQL NULL (the store configures no other serialiser)."""
    column_type = table.c[name].type
    if connection.dialect.name == "postgresql" and isinstance(column_type, JSON):
        keep_null = column_type.none_as_null

        def text(value: Any) -> str | None:
            return None if value is None and keep_null else json.dumps(value)

        return text
    return column_type.dialect_impl(connection.dialect).bind_processor(connection.dialect)


def _memoised(process: _Processor) -> _Processor:
    """The processor, run once per distinct hashable value (a rule's references, a run id) and once per object
    given again (one ``{"state": "coded"}`` dict shared by many rows): the object is kept until the call ends, so
    its id cannot be reused by another value meanwhile."""
    seen: dict[Any, Any] = {}
    objects: dict[int, tuple[Any, Any]] = {}

    def run(value: Any) -> Any:
        key = (type(value), value)  # 1 and True and 1.0 are equal keys, not equal values
        try:
            return seen[key]
        except KeyError:
            seen[key] = done = process(value)
            return done
        except TypeError:  # not hashable (a dict, a list): by object (asking isinstance(Hashable) cost more)
            held = objects.get(id(value))
            if held is None:
                held = objects[id(value)] = (value, process(value))
            return held[1]

    return run


def append_rows(connection: Connection, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]],
                constants: Mapping[str, Any] | None = None) -> int:
    """Insert ``rows`` (tuples in the order of ``columns``) into ``table``, each with the ``constants`` (the same
    value for every row: the organisation, the user, the time) after its own values. Returns the rows written."""
    constants = dict(constants or {})
    names = [*columns, *constants]
    processors = [_processor(table, name, connection) for name in columns]
    per_row = [(i, _memoised(p)) for i, p in enumerate(processors) if p is not None]
    fixed: tuple[Any, ...] = ()
    for name, value in constants.items():
        process = _processor(table, name, connection)
        fixed += (process(value) if process is not None else value,)

    def ready(row: Sequence[Any]) -> tuple[Any, ...]:
        if not per_row:
            return (*row, *fixed)
        values = list(row)
        for i, process in per_row:
            values[i] = process(values[i])
        return (*values, *fixed)

    prepared = [ready(row) for row in rows]
    if not prepared:
        return 0
    quote = connection.dialect.identifier_preparer
    target = f"{quote.format_table(table)} ({', '.join(quote.quote(name) for name in names)})"
    driver = connection.connection.driver_connection
    assert driver is not None
    if connection.dialect.name == "postgresql":
        with driver.cursor() as cursor, cursor.copy(f"COPY {target} FROM STDIN") as copy:
            for row in prepared:
                copy.write_row(row)
    else:
        marks = ", ".join(_placeholder(connection, n) for n in range(len(names)))
        cursor = driver.cursor()
        try:
            cursor.executemany(f"INSERT INTO {target} VALUES ({marks})", prepared)
        finally:
            cursor.close()
    return len(prepared)


def _placeholder(connection: Connection, position: int) -> str:
    style = connection.dialect.paramstyle
    if style == "qmark":
        return "?"
    if style == "numeric":
        return f":{position + 1}"
    if style == "format":
        return "%s"
    raise NotImplementedError(f"bulk appends support qmark/numeric/format drivers, not {style!r}")


class _IntegerArrayText(UserDefinedType[list[int]]):
    """A bound ``integer[]`` given as its text: rendered ``%(name)s::INTEGER[]``, the text passed as it is."""

    cache_ok = True
    render_bind_cast = True

    def get_col_spec(self, **_: Any) -> str:
        return "INTEGER[]"


def _int_array(values: Iterable[int]) -> ColumnElement[list[int]]:
    """Integers as ONE PostgreSQL ``integer[]`` parameter, sent as its text (``{1,2,3}``) for the server to read:
    psycopg adapts a Python list element by element in Python, which cost a 10,000-claim scrub about 0.1 s of CPU
    per array. (The parameter itself is typed ``integer[]``; a text parameter CAST in SQL is not a constant to the
    planner and was parsed again for every row compared.)"""
    return literal("{" + ",".join(map(str, map(int, values))) + "}", _IntegerArrayText())


def _listed(connection: Connection, ids: Sequence[int]) -> FromClause | None:
    """The ids as a one-column table (``value``) from ONE bound value: ``unnest`` of an array on PostgreSQL,
    ``json_each`` of a JSON list on SQLite (None on other databases)."""
    values = [int(value) for value in ids]
    name = connection.dialect.name
    if name == "postgresql":
        return func.unnest(_int_array(values)).table_valued("value").render_derived()
    if name == "sqlite":
        return func.json_each(literal(json.dumps(values), String)).table_valued("value")
    return None


def among(connection: Connection, column: ColumnElement[int], ids: Sequence[int]) -> ColumnElement[bool]:
    """``column IN ids`` with the ids as ONE bound value: an array on PostgreSQL (``= ANY``), a JSON list read by
    ``json_each`` on SQLite. SQLAlchemy's ``in_`` binds and names one parameter per id, which cost a 10,000-claim
    scrub more than running its queries did (and SQLite allows 32,766 parameters a statement, so it also needed
    chunks)."""
    values = [int(value) for value in ids]
    name = connection.dialect.name
    if name == "postgresql":
        return column == any_(_int_array(values))
    listed = _listed(connection, values)
    if listed is not None:
        return column.in_(select(listed.c.value))
    return column.in_(values)


def insert_each(connection: Connection, table: Table, column: str, ids: Sequence[int], *,
                constants: Mapping[str, Any]) -> list[tuple[int, int]]:
    """Insert one row per id (``column`` = the id, and the ``constants`` on every row) and return the pairs
    (id given, new row's id). ONE statement, ``INSERT ... SELECT`` from the ids as one bound value with RETURNING:
    an executemany of 10,000 rows cost SQLAlchemy a parameter dict and the bind processors per row (about 0.3 s
    of a batch scrub's CPU) and PostgreSQL ten round trips. The pairs come in no particular order: match them by
    the id given (unique in ``ids``)."""
    if not ids:
        return []
    listed = _listed(connection, ids)
    if listed is None:  # another database: the portable executemany
        return [(row[0], row[1]) for row in connection.execute(
            insert(table).returning(table.c[column], table.c.id),
            [{column: value, **constants} for value in ids])]
    # each constant bound once, through its column's type (a UTC timestamp, a date)
    selected = select(cast(listed.c.value, Integer),
                      *(literal(value, table.c[name].type) for name, value in constants.items()))
    statement = (insert(table).from_select([column, *constants], selected, include_defaults=False)
                 .returning(table.c[column], table.c.id))
    return [(row[0], row[1]) for row in connection.execute(statement).all()]


def update_by_id(connection: Connection, table: Table, column: str, by_id: Mapping[int, int], *,
                 where: ColumnElement[bool], constants: Mapping[str, Any]) -> None:
    """Set ``column`` of each row ``id`` to ``by_id[id]`` (and ``constants`` on every one), among the rows ``where``
    allows: on PostgreSQL one ``UPDATE ... FROM unnest(ids, values)``, where executemany is a round trip a row; on
    SQLite the driver's executemany of one prepared UPDATE by primary key (cheap in process; an ``UPDATE ... FROM
    json_each`` made SQLite scan the pairs once per row of the organisation), with the constants and ``where``'s
    values bound once through their types rather than by SQLAlchemy per row. Either way no subquery per row."""
    if not by_id:
        return
    if connection.dialect.name == "postgresql":
        pairs = select(func.unnest(_int_array(by_id)).label("b_id"),
                       func.unnest(_int_array(by_id.values())).label("b_value")).subquery()
        connection.execute(update(table).where(where, table.c.id == pairs.c.b_id)
                           .values({**constants, column: pairs.c.b_value}))
        return
    statement = (update(table).where(where, table.c.id == bindparam("b_id", type_=Integer))
                 .values({**constants, column: bindparam("b_value", type_=Integer)}))
    if connection.dialect.paramstyle != "qmark":  # another driver: SQLAlchemy's own executemany
        connection.execute(statement, [{"b_id": key, "b_value": value} for key, value in by_id.items()])
        return
    _executemany(connection, statement, ("b_id", "b_value"), by_id.items())


def _executemany(connection: Connection, statement: Update, varying: Sequence[str],
                 rows: Iterable[Sequence[Any]]) -> None:
    """Run ``statement`` (compiled once, qmark placeholders) for each row through the driver's executemany: the
    binds named in ``varying`` take each row's values in that order (integers, passed as they are), every other
    bind its one value, processed by its type once."""
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect)
    fixed = compiled.construct_params(dict.fromkeys(varying, 0))
    order = compiled.positiontup
    assert order is not None
    processed: dict[str, Any] = {}
    for name in order:
        if name in varying:
            continue
        bind_type = compiled.binds[name].type
        process = bind_type.dialect_impl(dialect).bind_processor(dialect)
        processed[name] = process(fixed[name]) if process is not None else fixed[name]
    slots = [(varying.index(name) if name in varying else None, processed.get(name)) for name in order]

    def positional(row: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(row[index] if index is not None else value for index, value in slots)

    driver = connection.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    try:
        cursor.executemany(str(compiled), [positional(row) for row in rows])
    finally:
        cursor.close()


def read_frame(connection: Connection, statement: Select[Any], schema: Mapping[str, Any]) -> pl.DataFrame:
    """The statement's rows as a Polars frame with ``schema`` (one entry per selected column, in order). On
    PostgreSQL through ``COPY (statement) TO STDOUT`` as CSV, parsed by Polars: no Python object per value, where
    fetching rows built one per value (about 0.15 s of CPU for a 10,000-claim scrub's 30,000 lines) and the columns
    were then rebuilt from them. Elsewhere from the driver's rows, column by column (Polars builds a frame from a
    few long tuples faster than from many short rows). The CSV keeps NULL apart from an empty text only by quoting,
    which Polars does not read: use it for columns where an empty text is not a value (codes, JSON as text)."""
    if connection.dialect.name != "postgresql":
        rows = connection.execute(statement).all()
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
        return pl.DataFrame(dict(zip(schema, columns, strict=True)), schema=schema)
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect)
    params = compiled.construct_params()
    for name, bind in compiled.binds.items():  # each bound value through its type, as an execute would send it
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None and name in params:
            params[name] = process(params[name])
    driver = connection.connection.driver_connection
    assert driver is not None
    text = bytearray()
    # COPY takes no server-side parameters: psycopg binds them into the statement's text itself
    with driver.cursor() as cursor, cursor.copy(f"COPY ({compiled}) TO STDOUT (FORMAT csv)", params) as copy:
        for block in copy:
            text += block
    if not text:
        return pl.DataFrame(schema=schema)
    return pl.read_csv(bytes(text), has_header=False, new_columns=list(schema), schema=schema)
