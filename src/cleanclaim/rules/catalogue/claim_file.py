"""Claim file: what the checked claim says about the file it will go out in: a payer cleanclaim has no profile
for (so the payer's own settings could not be applied) and a billing provider address the 837P cannot carry."""

from __future__ import annotations

import re

import polars as pl

from cleanclaim.formats.claim_requirements import BILLING_ZIP_PATTERN, BILLING_ZIP_REFERENCE
from cleanclaim.model import Severity
from cleanclaim.payers import FALLBACK_PROFILE
from cleanclaim.rules.registry import CANNOT_FIRE, NO_ROWS, Rule, Screen, register
from cleanclaim.rules.tables import SMALL_RUN, Tables

_SHOWN = 5  # encounters a duplicate-claim-id finding names beside its own
_NO_LINE = pl.lit(None, dtype=pl.Int32).alias("line")
_NO_CODE = pl.lit(None, dtype=pl.String).alias("code")


@register
class UnknownPayerProfile(Rule):
    """A claim whose payer has no payer profile, checked under the fallback profile instead.

    What it checks:
        Encounters whose ``payer`` names no built-in profile and no file in the payer directories. The claim is not
        dropped: every rule checks it under the ``commercial`` profile (your own ``commercial.yaml`` when you have
        one), and this rule reports it once per claim, naming the profile that is missing.

    Why it matters:
        Time rule, therapy and assistant modifiers, timely filing and non-covered codes are payer settings. Under a
        stand-in profile those findings are what a typical commercial payer would say, not what this payer says: a
        Medicare Advantage plan that follows the 8-minute rule, or a plan with a 90-day filing limit, is judged by
        the wrong settings until its profile exists.

    Example:
        payer: acme-health      # no acme-health.yaml in the payer directory

    Use instead:
        payer: acme-health      # with payers/acme-health.yaml: "extends: commercial" and the contract's settings

    References:
        cleanclaim payer profiles (src/cleanclaim/payers, docs); the payer's contract or provider manual for the
        settings the profile holds.
    """

    id = "CC710"
    slug = "unknown-payer-profile"
    family = "eligibility"
    severity = Severity.WARNING
    message = ("Payer {missing} has no payer profile: encounter {encounter_id} was checked under the "
               "{fallback} profile instead, so payer-specific findings may not match this payer")
    fix = ("Add a profile {missing}.yaml to your payer directory (--payers-dir; start from 'extends: commercial', "
           "'extends: medicare', 'extends: medicaid' or 'extends: tricare' and set what the contract says), or set "
           "the encounter's payer to a profile that exists.")
    references = ("cleanclaim payer profiles (docs: payer profiles)", "The payer contract or provider manual")

    def screen_for(self, tables: Tables) -> Screen | None:
        # The plan flags exactly the encounters whose payer maps to a stand-in profile.
        if any(profile.missing_profile for profile in tables.payers.values()):
            return None
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.DataFrame | pl.LazyFrame:
        missing = {payer: profile.missing_profile for payer, profile in tables.payers.items()
                   if profile.missing_profile}
        if not missing:
            return NO_ROWS
        stand_in = pl.DataFrame({"payer": list(missing), "missing": list(missing.values())},
                                schema={"payer": pl.String, "missing": pl.String})
        return (
            tables.encounters.lazy().join(stand_in.lazy(), on="payer", how="inner", maintain_order="left")
            .select("encounter_id", _NO_LINE, _NO_CODE, "missing", pl.lit(FALLBACK_PROFILE).alias("fallback"))
        )


@register
class BillingZipPlusFour(Rule):
    """A billing provider ZIP code of 5 digits, which an 837P cannot carry.

    What it checks:
        The billing provider's ZIP code, where the encounter has one: the 837P needs the nine-digit ZIP+4 in loop
        2010AA. ``cleanclaim export -f 837p`` refuses the claim for the same reason (one requirement,
        formats/claim_requirements.py); a paper CMS-1500 takes 5 digits, hence a warning.

    Why it matters:
        A clearinghouse rejects an 837P whose billing provider ZIP is not ZIP+4 (999/277CA rejection), and a rejected
        claim does not count as filed for timely filing.

    Example:
        billing_provider: {name: Harbor PT, npi: "1234567893", tax_id: "123456789",
                           address: {line1: 1 Main St, city: Springfield, state: IL, zip: "62701"}}

    Use instead:
        billing_provider: {name: Harbor PT, npi: "1234567893", tax_id: "123456789",
                           address: {line1: 1 Main St, city: Springfield, state: IL, zip: "627011234"}}

    References:
        ASC X12 837P 005010X222A1 loop 2010AA N403 (billing provider ZIP code: the nine-digit ZIP+4).
    """

    id = "CC617"
    slug = "billing-zip-plus-four"
    family = "claim"
    severity = Severity.WARNING
    message = ("The billing provider's ZIP code on encounter {encounter_id} has {digits} characters; an 837P needs "
               "the 9-digit ZIP+4 in loop 2010AA, and the 837P export refuses it")
    fix = "Give the billing provider's full ZIP+4 (9 digits, no hyphen), as USPS lists the practice address."
    references = (BILLING_ZIP_REFERENCE,)

    def screen_for(self, tables: Tables) -> Screen | None:
        # The plan flags a non-null ZIP that does not match the pattern; Python's match is the same regex.
        zips = tables.encounters.get_column("billing_zip")
        if zips.len() > SMALL_RUN:
            return None
        if any(z is not None and not re.fullmatch(BILLING_ZIP_PATTERN, z) for z in zips.to_list()):
            return None
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        zip_code = pl.col("billing_zip")
        return (
            tables.encounters.lazy()
            .filter(zip_code.is_not_null() & ~zip_code.str.contains(BILLING_ZIP_PATTERN))
            .select("encounter_id", _NO_LINE, _NO_CODE, zip_code.str.len_chars().alias("digits"))
        )


@register
class DuplicateClaimId(Rule):
    """Two claims in one batch with the same claim id (patient control number, 837P CLM01).

    What it checks:
        Encounters of the batch whose ``claim_id`` is the same. Each is reported, naming the others. An 837P with
        two CLM segments of one CLM01 is read as two encounters (the second as ``CLM01#2``), never merged into one.

    Why it matters:
        The payer returns the claim id on the remittance (835 CLP01) and the claim status (277CA) to say which
        claim a payment or rejection is for; two claims with one id cannot be told apart there, and many payers
        deny the second as a duplicate of the first.

    Example:
        encounters: [{id: E1, claim_id: CLM-0001, ...}, {id: E2, claim_id: CLM-0001, ...}]

    Use instead:
        encounters: [{id: E1, claim_id: CLM-0001, ...}, {id: E2, claim_id: CLM-0002, ...}]

    References:
        ASC X12 837P 005010X222A1 2300 CLM01 (patient control number, returned in 835 CLP01 and 277 TRN/REF*EJ).
    """

    id = "CC618"
    slug = "duplicate-claim-id"
    family = "claim"
    severity = Severity.ERROR
    message = "Claim id {claim_id} of encounter {encounter_id} is also the claim id of {others}"
    fix = ("Give each claim its own claim id (patient control number), or drop the repeated claim if it was "
           "entered twice.")
    references = ("X12 837P 005010X222A1 2300 CLM01", "X12 835 005010X221A1 CLP01")

    def screen_for(self, tables: Tables) -> Screen | None:
        # The plan flags exactly the non-null claim ids that occur more than once.
        ids = tables.encounters.get_column("claim_id")
        if ids.len() > SMALL_RUN:
            return None
        values = [value for value in ids.to_list() if value is not None]
        return None if len(values) != len(set(values)) else CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        # No self-join: 10,000 encounters sharing one id would make 10^8 pairs. Each finding names at most five of
        # the others (the first of its group) and counts the rest, so the work is linear in the encounters.
        claims = (tables.encounters.lazy().filter(pl.col("claim_id").is_not_null())
                  .select("encounter_id", "claim_id").with_row_index("row"))
        groups = (claims.group_by("claim_id", maintain_order=True)
                  .agg(pl.col("encounter_id").head(_SHOWN + 1).alias("other"), pl.len().alias("count"))
                  .filter(pl.col("count") > 1))
        named = (
            claims.join(groups, on="claim_id", how="inner").explode("other")
            .filter(pl.col("other") != pl.col("encounter_id"))
            .group_by("row", "encounter_id", "claim_id", "count")
            .agg(pl.format("encounter {}", pl.col("other")).head(_SHOWN).str.join(", ").alias("named"),
                 pl.col("other").head(_SHOWN).len().alias("shown"))
            .sort("row")
        )
        more = pl.col("count") - 1 - pl.col("shown")
        return named.select(
            "encounter_id", _NO_LINE, _NO_CODE, "claim_id",
            pl.format("{}{}", pl.col("named"),
                      pl.when(more > 0).then(pl.format(" and {} more", more)).otherwise(pl.lit(""))).alias("others"),
        )
