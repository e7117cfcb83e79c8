"""Long work (a batch scrub, a large import) as a job row a page can poll, run in a thread so the request returns.

The work runs in steps; each step is its own transaction and the job's progress (done of total, a message) is
written after each in a separate short transaction, so a page sees it move and a failure part-way keeps the steps
already done (each whole) and says where it stopped. A scrub's steps run two at a time, committing in order
(`_settled`), so the database stores one while this process checks the next. The runner is in-process: a job does
not survive a restart of the server (it is left ``running`` with its last progress; :func:`fail_abandoned` marks
such jobs failed at start).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from cleanclaim.errors import UNFORESEEN, CleanclaimError
from cleanclaim.lifecycle import ENTERS_ENCOUNTERS
from cleanclaim.model import Encounter
from cleanclaim.store import models as m
from cleanclaim.store.claims import Actor, NotFoundError, _require, scrub_claims
from cleanclaim.store.tenant import Tenant
from cleanclaim.store.types import utcnow

__all__ = ["IMPORT_STEP", "SCRUB_STEP", "fail_abandoned", "job_status", "start_import_job", "start_scrub_job"]

SCRUB_STEP = 5000
"""Claims per step of a batch scrub: one engine run and one transaction each. Each engine run has a fixed cost
(planning the rules, looking up the batch's distinct codes: about 0.1 s of CPU), so 10,000 claims in five steps of
2,000 cost 0.4-0.9 s more CPU than in one (measured side by side, loaded machine: SQLite 2.9 / 2.2 / 1.9 s and
PostgreSQL 1.8 / 1.5 / 1.4 s for steps of 2,000 / 5,000 / 10,000). 5,000 keeps most of that gain and still moves
the page's progress about once a second; it also lets more of a patient's claims meet in one run (the rules that
look across claims, such as duplicates and the therapy threshold, see one step at a time)."""

SCRUB_STEPS_AT_ONCE = {"postgresql": 2, "sqlite": 2}
"""Steps of a batch scrub run side by side, by database (see `_settled`); one at a time where not named. On
PostgreSQL each step's transaction has its own server process, so one step's store and the next one's rules use
the two cores at once. The claims of a job's steps are distinct, so steps side by side never touch the same rows."""

WRITES_IN_TURN = frozenset({"sqlite"})
"""Databases with one writer at a time (SQLite), where a step side by side with another loads and checks its claims
at once but starts writing only when the step before it has committed: waiting for that one's write lock from
inside a transaction that had read before its commit would fail ("database is locked"), not wait."""

IMPORT_STEP = 500
"""Encounters per step of a large import: stored (and coded) in one transaction each."""

Step = Callable[[Tenant, Callable[[], None]], dict[str, Any]]
"""One step of a job, in its own transaction: given the organisation and a gate to call before its first write
(it returns when the step may write, or raises the error that stopped the step before it)."""


def _open() -> None:
    """The gate of a step that may write at once."""


def _set(factory: sessionmaker[Session], job_id: int, **values: Any) -> None:
    with factory() as session:
        session.execute(update(m.Job).where(m.Job.id == job_id).values(**values))
        session.commit()


def _run(factory: sessionmaker[Session], organisation_id: int, job_id: int, steps: Sequence[tuple[int, Step]],
         not_read: Sequence[str] = (), *, side_by_side: int = 1, writes_in_turn: bool = False) -> None:
    done = 0
    # parts of the input that were never items (an 837P claim that could not be read) stay in the final message
    tail = f"; {len(not_read)} part(s) of the file not read: {'; '.join(not_read[:10])}" if not_read else ""
    results: list[dict[str, Any]] = []
    _set(factory, job_id, state="running", started_at=utcnow())
    for size, outcome in _settled(factory, organisation_id, steps, side_by_side, writes_in_turn=writes_in_turn):
        if not isinstance(outcome, dict):
            message = (str(outcome) if isinstance(outcome, CleanclaimError)
                       else f"unexpected failure: {type(outcome).__name__}")
            _set(factory, job_id, state="failed", finished_at=utcnow(),
                 message=f"stopped after {done} of the job's items: {message}{tail}",
                 result={"steps": results, "not_read": list(not_read)})
            return
        results.append(outcome)
        done += size
        _set(factory, job_id, done=done, message=f"{done} done")
    _set(factory, job_id, state="done", finished_at=utcnow(), message=f"{done} done{tail}",
         result={"steps": results, "not_read": list(not_read)})


def _settled(factory: sessionmaker[Session], organisation_id: int, steps: Sequence[tuple[int, Step]],
             side_by_side: int, *, writes_in_turn: bool = False,
             ) -> Iterator[tuple[int, dict[str, Any] | BaseException]]:
    """Run each step in its own session and transaction and yield, in the steps' order, its size and its result or
    the unforeseen error that stopped it (the last thing yielded; nothing after a failed step is committed).

    With ``side_by_side`` above one, that many steps run at once, each on its own thread and connection: while the
    database server stores one step's rows, this process loads and checks the next (on PostgreSQL the two then use
    both cores). A step commits only after the step before it has committed, and rolls back when that one failed,
    so the steps done are always the first ones, each whole, as when they run one after another. With
    ``writes_in_turn`` a step's gate also holds its first write until the step before it has committed."""
    if side_by_side <= 1:
        for size, step in steps:
            try:
                with factory() as session:
                    result = step(Tenant(session, organisation_id), _open)
                    session.commit()
            except UNFORESEEN as error:
                yield size, error
                return
            yield size, result
        return

    def in_order(step: Step, before: Future[dict[str, Any]] | None) -> dict[str, Any]:
        def committed_before() -> None:
            if before is not None:
                before.result()  # the step before failed: this one leaves with its error, rolled back

        with factory() as session:
            result = step(Tenant(session, organisation_id), committed_before if writes_in_turn else _open)
            committed_before()
            session.commit()
        return result

    with ThreadPoolExecutor(max_workers=side_by_side, thread_name_prefix="cleanclaim-job-step") as pool:
        futures: list[Future[dict[str, Any]]] = []
        for _, step in steps:  # taken in this order by the threads, so a step never waits for one not started
            futures.append(pool.submit(in_order, step, futures[-1] if futures else None))
        for (size, _), future in zip(steps, futures, strict=True):
            try:
                result = future.result()
            except UNFORESEEN as error:
                for later in futures:
                    later.cancel()  # not started yet: never runs; running: rolls back on this error
                yield size, error
                return
            yield size, result


def start_scrub_job(factory: sessionmaker[Session], organisation_id: int, actor: Actor, claim_ids: Sequence[int],
                    *, wait: bool = False) -> int:
    """Queue a scrub of these claims in steps of :data:`SCRUB_STEP` and start it in a thread; the job's id is
    returned at once (``wait`` joins the thread, for tests and scripts)."""
    _require(actor, ENTERS_ENCOUNTERS, "scrub claims")
    ids = list(dict.fromkeys(claim_ids))

    def step_for(chunk: list[int]) -> Step:
        def step(tenant: Tenant, gate: Callable[[], None]) -> dict[str, Any]:
            outcome = scrub_claims(tenant, actor, chunk, before_writing=gate)
            return {"claims": len(chunk), "findings": outcome.findings,
                    "errors": sum(c["error"] for c in outcome.counts.values())}
        return step

    steps = [(len(ids[i:i + SCRUB_STEP]), step_for(ids[i:i + SCRUB_STEP])) for i in range(0, len(ids), SCRUB_STEP)]
    with factory() as session:
        database = session.get_bind().dialect.name
    return _start(factory, organisation_id, actor, "scrub", len(ids), steps, wait=wait,
                  side_by_side=SCRUB_STEPS_AT_ONCE.get(database, 1), writes_in_turn=database in WRITES_IN_TURN)


def start_import_job(factory: sessionmaker[Session], organisation_id: int, actor: Actor,
                     encounters: Sequence[Encounter], *, not_read: Sequence[str] = (), wait: bool = False) -> int:
    """Store and code already-read encounters in steps of :data:`IMPORT_STEP`, in a thread; the job's id at once.
    Each step is whole; a step refused (a claim id already used) stops the job, and its message says after how many
    encounters, so the file can be fixed and the rest imported. ``not_read`` (the reader's problems with the file,
    as messages) is kept in the job's final message and result, so a partial import says what it left out."""
    from cleanclaim.store.intake import enter_encounters

    _require(actor, ENTERS_ENCOUNTERS, "enter encounters")
    items = list(encounters)

    def step_for(chunk: list[Encounter]) -> Step:
        def step(tenant: Tenant, _gate: Callable[[], None]) -> dict[str, Any]:  # one step at a time
            intake = enter_encounters(tenant, actor, chunk)
            return {"claims": len(intake.claims), "not_coded": len(intake.not_coded)}
        return step

    steps = [(len(items[i:i + IMPORT_STEP]), step_for(items[i:i + IMPORT_STEP]))
             for i in range(0, len(items), IMPORT_STEP)]
    return _start(factory, organisation_id, actor, "import", len(items), steps, wait=wait, not_read=not_read)


def _start(factory: sessionmaker[Session], organisation_id: int, actor: Actor, kind: str, total: int,
           steps: list[tuple[int, Step]], *, wait: bool, not_read: Sequence[str] = (), side_by_side: int = 1,
           writes_in_turn: bool = False) -> int:
    """Record the job as queued (committed, so the page can poll it at once) and run its steps in a thread."""
    with factory() as session:
        job = Tenant(session, organisation_id).add(m.Job(kind=kind, state="queued", total=total, done=0,
                                                         created_by_id=actor.id))
        session.commit()
        job_id = job.id
    thread = threading.Thread(target=_run, args=(factory, organisation_id, job_id, steps, list(not_read)),
                              kwargs={"side_by_side": side_by_side, "writes_in_turn": writes_in_turn}, daemon=True,
                              name=f"cleanclaim-job-{job_id}")
    thread.start()
    if wait:
        thread.join()
    return job_id


def job_status(tenant: Tenant, job_id: int) -> m.Job:
    """The job as a page polls it (NotFoundError for another organisation's job)."""
    job = tenant.get(m.Job, job_id)
    if job is None:
        raise NotFoundError(f"job {job_id} not found")
    tenant.session.refresh(job)
    return job


def fail_abandoned(factory: sessionmaker[Session]) -> int:
    """At server start: jobs left queued or running by a previous process will never finish; say so."""
    with factory() as session:
        result = session.execute(update(m.Job).where(m.Job.state.in_(("queued", "running"))).values(
            state="failed", finished_at=utcnow(),
            message="the server stopped before this job finished; start it again"))
        session.commit()
        return int(getattr(result, "rowcount", 0) or 0)
