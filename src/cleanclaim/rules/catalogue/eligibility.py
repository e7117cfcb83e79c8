"""Eligibility: may this discipline bill this code, and does this payer cover it at all?"""

from __future__ import annotations

from functools import cache
from importlib import resources

import polars as pl

from cleanclaim.model import Discipline, Severity
from cleanclaim.rules.registry import Rule, register
from cleanclaim.rules.tables import Tables, lines_with_codes

_KEYS = ["encounter_id", "line", "code"]

# Keyed by the lower-cased Discipline value, as the code book's billers ("PT", "psychologist", "coach") compare.
_DISCIPLINE_NAMES: dict[str, str] = {key.lower(): name for key, name in {
    Discipline.PT.value: "physical therapist", Discipline.OT.value: "occupational therapist",
    Discipline.SLP.value: "speech-language pathologist", Discipline.MD.value: "physician",
    Discipline.DO.value: "osteopathic physician", Discipline.NP.value: "nurse practitioner",
    Discipline.PA.value: "physician assistant", Discipline.CNS.value: "clinical nurse specialist",
    Discipline.CNM.value: "certified nurse-midwife", Discipline.PSYCHOLOGIST.value: "clinical psychologist",
    Discipline.CSW.value: "clinical social worker", Discipline.MFT.value: "marriage and family therapist",
    Discipline.MHC.value: "mental health counselor", Discipline.RD.value: "registered dietitian",
    Discipline.RN.value: "registered nurse", Discipline.CDCES.value: "diabetes care and education specialist",
    Discipline.COACH.value: "health coach", Discipline.CHW.value: "community health worker",
    Discipline.PEER.value: "peer support specialist", Discipline.OTHER.value: "provider of unstated discipline",
}.items()}


@cache
def unconfirmed_billers() -> pl.DataFrame:
    """Discipline and code-family pairs whose billing right is unconfirmed (data file
    ``rules/data/unconfirmed_billers.csv``): warnings, never errors."""
    text = resources.files("cleanclaim.rules").joinpath("data", "unconfirmed_billers.csv").read_bytes()
    return pl.read_csv(text, comment_prefix="#", schema={
        "family_prefix": pl.String, "discipline": pl.String, "reason": pl.String, "reference": pl.String,
    }).with_columns(pl.col("discipline").str.to_lowercase().alias("discipline_key"))


def _discipline_name(column: str) -> pl.Expr:
    return pl.col(column).replace_strict(_DISCIPLINE_NAMES, default=pl.col(column), return_dtype=pl.String)


def _names(keys: pl.Expr) -> pl.Expr:
    """A list of lower-cased discipline keys as readable names joined by commas."""
    return keys.list.eval(
        pl.element().replace_strict(_DISCIPLINE_NAMES, default=pl.element(), return_dtype=pl.String)
    ).list.join(", ")


@register
class ProviderNotEligible(Rule):
    """A code billed by a discipline that may not bill it.

    What it checks:
        The rendering provider's discipline against the code book's ``billers`` for the line's code on its date of
        service: a health coach billing 96158 (HBAI) or 99407 (tobacco counseling), a registered dietitian billing
        97110 (therapeutic exercise), a therapist billing an E/M visit. Pairs the domain facts mark UNCONFIRMED
        (marriage and family therapists or mental health counselors billing HBAI; social workers, MFTs and MHCs
        billing community health integration) are warnings, whatever the code book lists.

    Why it matters:
        A service billed under a provider type the payer does not recognise for the code is denied (CARC 185, or
        CARC 170 for the provider type), and billed as if eligible it is an overpayment and a false-claims risk.
        Health coaches are not an enrollable Medicare provider type at all.

    Example:
        provider: {discipline: coach}
        lines: [{code: "96158", units: 1, minutes: 30, dx_pointers: [1]}]

    Use instead:
        provider: {discipline: coach}
        lines: [{code: "0592T", units: 1, minutes: 30, dx_pointers: [1]}]   # where the payer covers coaching

    References:
        cleanclaim code book (billers); APA Services HBAI guide 2020 and NASW CY2024 PFS highlights (HBAI billers);
        NGS Medicare tobacco counseling (billers).
    """

    id = "CC701"
    slug = "provider-not-eligible"
    family = "eligibility"
    severity = Severity.ERROR
    message = "{code} ({summary}) is billed by a {discipline_name}, who {eligibility_text}"
    fix = "{remedy}"
    references = ("cleanclaim code book (billers)", "APA Services: HBAI codes 2020; NASW: CY2024 PFS highlights",
                  "NGS Medicare: counseling to prevent tobacco use")

    def check(self, tables: Tables) -> pl.DataFrame:
        lines = (
            lines_with_codes(tables)
            .filter(pl.col("billers").list.len() > 0)
            .with_columns(
                pl.col("provider_discipline").str.to_lowercase().alias("discipline_key"),
                pl.col("billers").list.eval(pl.element().str.to_lowercase()).alias("biller_keys"),
            )
            .with_columns(
                (pl.col("biller_keys").list.contains("*")
                 | pl.col("biller_keys").list.contains(pl.col("discipline_key"))).alias("listed"),
            )
        )
        family_pairs = (
            lines.select(*_KEYS, "family", pl.col("discipline_key").alias("line_discipline"))
            .join(unconfirmed_billers(), how="cross")
            .filter(pl.col("family").str.starts_with(pl.col("family_prefix")))
        )
        mine = pl.col("discipline_key") == pl.col("line_discipline")
        unconfirmed = family_pairs.group_by(_KEYS).agg(
            pl.col("reason").filter(mine).first().alias("unconfirmed_reason"),
            pl.col("reference").filter(mine).first().alias("unconfirmed_reference"),
            pl.col("discipline_key").unique().alias("unconfirmed_keys"),
        )
        judged = lines.join(unconfirmed, on=_KEYS, how="left").filter(
            ~pl.col("listed") | pl.col("unconfirmed_reason").is_not_null())
        coach = pl.col("discipline_key") == Discipline.COACH.value
        is_unconfirmed = pl.col("unconfirmed_reason").is_not_null()
        return judged.with_columns(
            _discipline_name("discipline_key").alias("discipline_name"),
            _names(pl.col("biller_keys")).alias("billers_text"),
            _names(pl.col("biller_keys").list.set_difference(pl.col("unconfirmed_keys").fill_null([])))
            .alias("confirmed_text"),
        ).with_columns(
            pl.when(is_unconfirmed)
            .then(pl.format("may or may not bill it (unconfirmed): {} ({})", pl.col("unconfirmed_reason"),
                            pl.col("unconfirmed_reference")))
            .when(pl.col("discipline_key") == Discipline.OTHER.value)
            .then(pl.format("cannot be checked against the code's billers ({})", pl.col("billers_text")))
            .otherwise(pl.format("is not among those who may bill it ({})", pl.col("billers_text")))
            .alias("eligibility_text"),
            pl.when(is_unconfirmed)
            .then(pl.format("Confirm with the payer that a {} may bill {} (keep the policy with the claim), or have "
                            "it furnished and billed by a provider whose eligibility is confirmed ({}).",
                            pl.col("discipline_name"), pl.col("code"), pl.col("confirmed_text")))
            .when(coach)
            .then(pl.format("A health coach cannot bill {}: bill the coaching codes 0591T-0593T where the payer covers "
                            "them, or bill it incident-to a supervising physician or other practitioner who may bill "
                            "{} ({}), under that practitioner's NPI and the payer's incident-to supervision rules.",
                            pl.col("code"), pl.col("code"), pl.col("billers_text")))
            .otherwise(pl.format("Have {} be billed by a provider who may bill it ({}), or bill the code that "
                                 "describes what a {} does.", pl.col("code"), pl.col("billers_text"),
                                 pl.col("discipline_name")))
            .alias("remedy"),
            pl.when(is_unconfirmed | (pl.col("discipline_key") == Discipline.OTHER.value))
            .then(pl.lit(Severity.WARNING.value)).otherwise(pl.lit(None, dtype=pl.String)).alias("severity"),
        ).select(*_KEYS, "summary", "discipline_name", "eligibility_text", "remedy", "severity")


@register
class CodeNotCovered(Rule):
    """A code the payer profile lists as not covered or not separately paid.

    What it checks:
        Lines whose code is in the payer profile's ``not_covered`` list (Medicare: 97010 hot/cold packs, preventive
        counseling 99401-99412, self-management education 98960-98962, coaching 0591T-0593T). The severity, reason
        and reference come from the profile entry, so an organisation can tighten or relax each one.

    Why it matters:
        A non-covered line is denied (CARC 96 or 204) or bundled into another service (CARC 97), and the patient can
        only be billed if they were told in advance (an ABN for Medicare) that the payer would not pay.

    Example:
        payer: medicare
        lines: [{code: "97010", modifiers: [GP], units: 1, dx_pointers: [1]}]

    Use instead:
        payer: medicare
        lines: [{code: "97110", modifiers: [GP], units: 1, dx_pointers: [1]}]   # the packs are bundled: not billed

    References:
        The payer profile's not_covered entries (each with its own reference: CMS PFS status indicators, payer
        policies); CMS Pub 100-04 Ch.30 (advance beneficiary notice).
    """

    id = "CC702"
    slug = "code-not-covered"
    family = "eligibility"
    severity = Severity.WARNING
    message = "{payer_name} does not cover {code}: {reason} ({reference})"
    fix = ("Check the patient's {payer_name} coverage for {code}; if it is not covered, tell the patient in advance "
           "(ABN for Medicare) before billing them, or do not bill the payer for it.")
    references = ("payer profile: not_covered", "CMS Pub 100-04 Ch.30 (ABN)")

    def check(self, tables: Tables) -> pl.DataFrame:
        entries = pl.DataFrame(
            [{"payer": payer_id, "payer_name": profile.name, "code": code, "reason": entry.reason,
              "reference": entry.reference or "payer profile", "severity": entry.severity.value}
             for payer_id, profile in tables.payers.items() for entry in profile.not_covered for code in entry.codes],
            schema={"payer": pl.String, "payer_name": pl.String, "code": pl.String, "reason": pl.String,
                    "reference": pl.String, "severity": pl.String},
        ).unique(["payer", "code"], keep="first", maintain_order=True)
        return tables.lines.join(entries, on=["payer", "code"], how="inner").select(
            *_KEYS, "payer_name", "reason", "reference", "severity")
