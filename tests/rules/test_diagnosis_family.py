"""The ICD-10-CM chapter table behind hbai-needs-physical-diagnosis, checked against the bundled release."""

from __future__ import annotations

import polars as pl

from cleanclaim.diagnoses import diagnosis_frame
from cleanclaim.rules.catalogue.diagnosis import icd10cm_chapters


def _chapter_of(categories: pl.DataFrame) -> pl.DataFrame:
    return categories.join(icd10cm_chapters(), how="cross").filter(
        (pl.col("category") >= pl.col("first")) & (pl.col("category") <= pl.col("last")))


def test_every_code_of_the_bundled_release_falls_in_exactly_one_chapter() -> None:
    categories = diagnosis_frame().select(pl.col("code").str.slice(0, 3).alias("category")).unique()
    matched = _chapter_of(categories).group_by("category").len()
    assert matched.height == categories.height, set(categories["category"]) - set(matched["category"])
    assert (matched["len"] == 1).all()


def test_kinds_of_known_codes() -> None:
    sample = pl.DataFrame({"category": ["F41", "F32", "E11", "I10", "M62", "O9A", "U07", "Z71", "W19", "R45"]})
    kinds = dict(_chapter_of(sample).select("category", "health_kind").iter_rows())
    assert kinds == {
        "F41": "mental_behavioral", "F32": "mental_behavioral", "E11": "physical", "I10": "physical",
        "M62": "physical", "O9A": "physical", "U07": "physical", "Z71": "health_factor", "W19": "external_cause",
        "R45": "physical",  # the chapter decides; the data file's header names this limit
    }
