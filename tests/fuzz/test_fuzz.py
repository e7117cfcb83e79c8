"""Mutation fuzzing of every reader and of `check` (issue 11): damaged input is an input error, never a crash.

A few thousand inputs per run, the same ones every run (string-seeded ``random.Random``); a failure names the
crash class, the input number and its size, and ``python -m tests.fuzz.report`` writes each class with its
smallest input. Budgets are sized so the whole module stays well under a minute on a small CI machine.
"""

from __future__ import annotations

import resource
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import harness

TARGETS = harness.targets()

BUDGET = {
    "837p": 1600,
    "835": 1200,
    "denials": 600,
    "yaml": 600,
    "json": 300,
    "csv": 600,
    "parquet": 300,
    "check-yaml": 100,
    "check-837p": 100,
    "check-csv": 100,
    "audit-csv": 60,
    "audit-csv-scratch": 30,
    "audit-parquet": 40,
    "audit-parquet-scratch": 20,
    "audit-837p": 30,
    "audit-pair": 20,
    "audit-pair-scratch": 15,
}


MEMORY_HEADROOM = 3 * 1024**3
"""Address space the fuzz inputs may add to the process: an input that asks for more (a unit count that prices
one entry per unit, an alias expansion) becomes a MemoryError class instead of swapping a shared machine."""


@pytest.fixture(autouse=True, scope="module")
def _bounded_memory() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            in_use = int(statm.read().split()[0]) * resource.getpagesize()
    except OSError:  # not Linux: no /proc, run unbounded
        yield
        return
    limit = in_use + MEMORY_HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def test_every_target_has_a_budget_and_seeds_that_read_clean(tmp_path: Path) -> None:
    """The unmutated seeds keep the contract; otherwise every mutant would inherit the seed's failure."""
    assert set(BUDGET) == set(TARGETS)
    for target in TARGETS.values():
        assert target.seeds
        for seed in target.seeds:
            assert harness.judge(target, tmp_path / f"seed{target.suffix}", harness.seed_bytes(target, seed)) == []


def test_the_oracle_tells_a_crash_from_an_input_error(tmp_path: Path) -> None:
    """Checked on inputs whose fate is known, so a silent oracle cannot pass the fuzz tests below."""
    from cleanclaim.errors import InputError

    def boom(path: Path) -> list[InputError]:
        raise KeyError("x")

    def placeless(path: Path) -> list[InputError]:
        return [InputError("something is wrong", file=str(path))]

    def placed(path: Path) -> list[InputError]:
        raise InputError("something is wrong", file=str(path), line=3)

    base = TARGETS["yaml"]
    verdicts = {name: harness.judge(harness.Target(name, ".yaml", base.seeds, base.mutators, run),
                                    tmp_path / "x.yaml", b"a: 1\n")
                for name, run in {"boom": boom, "placeless": placeless, "placed": placed}.items()}
    assert [f.key[1] for f in verdicts["boom"]] == ["KeyError"]
    assert [f.kind for f in verdicts["placeless"]] == ["no place"]
    assert verdicts["placed"] == []


def test_inputs_are_the_same_on_every_run() -> None:
    target = TARGETS["837p"]
    assert [harness.case(target, i) for i in range(5)] == [harness.case(target, i) for i in range(5)]
    assert len({harness.case(target, i) for i in range(50)}) > 40


@pytest.mark.parametrize("name", sorted(BUDGET))
def test_fuzz(name: str, tmp_path: Path) -> None:
    report = harness.run(TARGETS[name], range(BUDGET[name]), tmp_path)
    if report.classes:
        pytest.fail(report.summary(), pytrace=False)


@pytest.mark.parametrize("name", sorted(BUDGET))
def test_corpus(name: str, tmp_path: Path) -> None:
    """Every input that once broke this reader (tests/fuzz/corpus/<name>/) is now an input error or a result."""
    report = harness.run_corpus(TARGETS[name], tmp_path)
    if report.classes:
        pytest.fail(report.summary(), pytrace=False)


def test_the_corpus_folders_are_targets() -> None:
    assert {folder.name for folder in harness.CORPUS.iterdir() if folder.is_dir()} <= set(TARGETS)
