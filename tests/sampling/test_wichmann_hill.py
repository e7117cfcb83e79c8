"""AS 183 against its recurrences worked by hand."""

from __future__ import annotations

import pytest

from cleanclaim.errors import InputError
from cleanclaim.sampling.wichmann_hill import WichmannHill, parse_seed


def test_first_numbers_follow_the_three_recurrences() -> None:
    generator = WichmannHill((1, 2, 3))
    # s1 = 171*1 mod 30269 = 171; s2 = 172*2 mod 30307 = 344; s3 = 170*3 mod 30323 = 510
    # u = 171/30269 + 344/30307 + 510/30323 = 0.005649... + 0.011350... + 0.016818... = 0.033819...
    assert generator.next() == pytest.approx(171 / 30269 + 344 / 30307 + 510 / 30323, abs=1e-15)
    assert generator.seeds == (171, 344, 510)
    # second: 171*171 = 29241 < 30269; 172*344 = 59168 - 30307 = 28861; 170*510 = 86700 - 2*30323 = 26054
    # u = 29241/30269 + 28861/30307 + 26054/30323 = 0.96604 + 0.95229 + 0.85921 = 2.77755 -> mod 1 = 0.77755
    second = generator.next()
    assert generator.seeds == (29241, 28861, 26054)
    assert second == pytest.approx(29241 / 30269 + 28861 / 30307 + 26054 / 30323 - 2, abs=1e-15)


def test_one_integer_seed_splits_as_python_2_did() -> None:
    # 2026 < 30268: x = 2026, then y = z = 0 -> seeds 2027, 1, 1
    assert WichmannHill.from_integer(2026).seeds == (2027, 1, 1)
    # 1_000_000 = 33*30268 + 1156; 33 = 0*30306 + 33; 0 -> seeds 1157, 34, 1
    assert WichmannHill.from_integer(1_000_000).seeds == (1157, 34, 1)


def test_the_same_seed_gives_the_same_numbers() -> None:
    a, b = parse_seed("2026"), parse_seed("2027,1,1")
    assert [a.next() for _ in range(50)] == [b.next() for _ in range(50)]


@pytest.mark.parametrize("text", ["-1", "abc", "1,2", "0,1,1", "30269,1,1", "1.5"])
def test_bad_seeds_are_input_errors(text: str) -> None:
    with pytest.raises(InputError, match="seed"):
        parse_seed(text)
