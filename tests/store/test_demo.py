"""The demo data: an empty database gets the demo organisations with claims in many states and real denials from a
posted 835; generated passwords; a second load is refused; the second organisation sees none of the first's."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from cleanclaim.errors import CleanclaimError
from cleanclaim.store import models as m
from cleanclaim.store.database import make_engine, migrate, session_factory
from cleanclaim.store.demo import DEMO_ORGANISATION, SECOND_ORGANISATION, load_demo
from cleanclaim.store.passwords import verify_password
from cleanclaim.store.tenant import Tenant


def test_demo_fills_an_empty_database_once(empty_url: URL) -> None:
    migrate(empty_url)
    engine = make_engine(empty_url)
    try:
        factory = session_factory(engine)
        credentials = load_demo(factory, claims=40, today=dt.date(2026, 11, 30))
        assert credentials.organisation == DEMO_ORGANISATION
        assert len(credentials.passwords) == 8 and len(set(credentials.passwords.values())) == 8
        with factory() as session:
            organisations = {o.name: o.id for o in session.scalars(select(m.Organisation))}
            assert set(organisations) == {DEMO_ORGANISATION, SECOND_ORGANISATION}
            demo = organisations[DEMO_ORGANISATION]
            user = session.scalars(select(m.User).where(m.User.email == "biller@demo.cleanclaim.test")).one()
            assert verify_password(user.password_hash, credentials.passwords[user.email])
            states = dict(session.execute(select(m.ClaimVersion.state, func.count()).where(
                m.ClaimVersion.organisation_id == demo).group_by(m.ClaimVersion.state)).all())
            assert {"coded", "scrubbed", "ready", "submitted", "paid"} <= set(states)
            assert {"denied", "partially_paid"} & set(states)
            tasks = session.scalar(select(func.count()).select_from(m.DenialTask).where(
                m.DenialTask.organisation_id == demo))
            assert tasks and tasks > 0
        with factory() as session:
            second = Tenant(session, organisations[SECOND_ORGANISATION])
            assert len(session.scalars(second.select(m.Claim)).all()) == 5
        with pytest.raises(CleanclaimError, match="only loaded into an empty one"):
            load_demo(factory, claims=5)
    finally:
        engine.dispose()


def test_the_packaged_demo_seed_is_the_examples() -> None:
    """The demo's seed ships in the package (store/demo_data) as copies of examples/: they must not drift apart."""
    from cleanclaim.store.demo import EXAMPLES

    root = Path(__file__).resolve().parents[2] / "examples"
    pairs = [(path, EXAMPLES / path.name) for path in sorted(root.glob("*.yaml"))]
    pairs.append((root / "practice" / "charge-master.csv", EXAMPLES / "charge-master.csv"))
    assert len(pairs) >= 7
    for source, copy in pairs:
        assert copy.read_bytes() == source.read_bytes(), f"{copy} differs from {source}: copy it again"
    assert sorted(p.name for p in EXAMPLES.glob("*.yaml")) == sorted(p.name for p, _ in pairs[:-1])
