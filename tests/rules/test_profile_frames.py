"""Frames built from payer profiles are cached by the profiles' identity, so a changed profile is never served a
stale frame."""

from __future__ import annotations

from cleanclaim.payers import load_profile
from cleanclaim.rules.profile_frames import ProfilesKey


def test_same_profiles_make_equal_keys() -> None:
    medicare = load_profile("medicare")
    assert ProfilesKey({"medicare": medicare}) == ProfilesKey({"medicare": load_profile("medicare")})
    assert hash(ProfilesKey({"medicare": medicare})) == hash(ProfilesKey({"medicare": medicare}))


def test_another_profile_object_or_id_makes_another_key() -> None:
    medicare = load_profile("medicare")
    changed = medicare.model_copy(update={"timely_filing_days": 90})
    assert ProfilesKey({"medicare": medicare}) != ProfilesKey({"medicare": changed})
    assert ProfilesKey({"medicare": medicare}) != ProfilesKey({"mcr": medicare})
    assert ProfilesKey({"medicare": medicare}) != ProfilesKey({})
