"""Writes tests/notes/synthetic.yaml: synthetic notes built from templates, each with the extraction it must give.

The expected values come from the template's own parameters (the code, minutes and phrasing it chose), never from
running the note reader, so the labelled set can catch the reader's mistakes. Deterministic (seed 13). The
hand-written notes are in tests/notes/handwritten.yaml.

    .venv/bin/python scripts/notes_labelled_set.py
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml

OUT = Path(__file__).resolve().parent.parent / "tests" / "notes" / "synthetic.yaml"

# code -> ways clinicians write it (timed therapy codes first)
NAMES: dict[str, list[str]] = {
    "97110": ["TherEx", "Ther ex", "therapeutic exercise", "TE", "thex", "Therapeutic exercises"],
    "97112": ["NMR", "neuromuscular re-education", "neuro re-ed", "balance training"],
    "97116": ["GT", "gait training", "gait trng", "stair training"],
    "97140": ["MT", "manual therapy", "STM", "joint mobs", "soft tissue mobilization"],
    "97530": ["TA", "ther act", "therapeutic activities", "functional activities"],
    "97535": ["SC/HM training (shower transfers)", "self-care training (LB dressing)", "ADL training (toileting)",
              "home management training (meal prep)"],
}
FAMILIES: dict[str, dict[str, Any]] = {
    "PT": {"codes": ["97110", "97112", "97116", "97140", "97530"],
           "signer": ["Dana Whitlock, PT", "Ravi Shah, PT, DPT"],
           "assistant": "PTA"},
    "OT": {"codes": ["97535", "97530", "97110", "97112"], "signer": ["Mia Torres, OTR/L", "Kim Park, OT"],
           "assistant": "COTA"},
}
SLP = {"92507": ["speech therapy", "language tx", "cognitive-linguistic tasks", "articulation drills"],
       "92526": ["dysphagia tx", "swallowing exercises", "oral-motor exercises"]}
HBAI = {"96158": ["Health behavior intervention", "HBAI session"], "96156": ["Health behavior assessment"]}
TOBACCO = ["Tobacco cessation counseling", "Smoking cessation counseling", "Counseled on smoking cessation"]
ALCOHOL = [("99408", "SBIRT"), ("99408", "Screening and brief intervention for alcohol use"),
           ("G0443", "Alcohol misuse counseling")]
COACH = [("0592T", "Health coaching session"), ("0592T", "Follow-up coaching"), ("0593T", "Group coaching")]


def minute_text(rng: random.Random, name: str, minutes: int) -> tuple[str, int]:
    """A service and its minutes as a clinician writes them; returns the text and the minutes it documents."""
    style = rng.randrange(8)
    if style == 0:
        return f"{name} x {minutes}'", minutes
    if style == 1:
        return f"{name} {minutes} min", minutes
    if style == 2:
        return f"{name}: {minutes} minutes", minutes
    if style == 3:
        return f"{minutes} min {name}", minutes
    if style == 4:  # a range documents its lower bound
        return f"{name} {minutes}-{minutes + 2} min", minutes
    if style == 5:
        start_h, start_m = rng.choice([(9, 0), (10, 5), (13, 15), (14, 40)])
        end_total = start_h * 60 + start_m + minutes
        return f"{start_h}:{start_m:02d}-{end_total // 60}:{end_total % 60:02d} {name}", minutes
    if style == 6:  # typo in the unit
        return f"{name} {minutes} {rng.choice(['minuets', 'mins', 'mintues'])}", minutes
    return f"{name} for {minutes} minutes", minutes


def therapy_note(rng: random.Random, family: str, number: int) -> dict[str, Any]:
    spec = FAMILIES[family]
    codes = rng.sample(spec["codes"], rng.randint(1, 3))
    parts: list[str] = []
    expected: list[dict[str, Any]] = []
    for code in codes:
        name = rng.choice(NAMES[code])
        minutes = rng.randint(8, 30)
        assistant = rng.random() < 0.15
        text, documented = minute_text(rng, name, minutes)
        if assistant:
            text = f"{spec['assistant']} performed {text}"
        parts.append(text)
        expected.append({"code": code, "minutes": documented, "assistant_minutes": documented if assistant else 0})
    not_furnished: list[str] = []
    unused = [c for c in spec["codes"] if c not in codes]
    if unused and rng.random() < 0.35:
        code = rng.choice(unused)
        name = rng.choice([n for n in NAMES[code] if len(n) > 3])
        parts.append(rng.choice([f"Pt declined {name} today", f"{name} deferred due to pain",
                                 f"Pt refused {name}"]))
        not_furnished.append(code)
    if rng.random() < 0.3:
        parts.append(rng.choice(["HEP reviewed", "HEP issued", "Reviewed HEP"]))
    timed = sum(e["minutes"] for e in expected)
    totals: dict[str, Any] = {}
    if rng.random() < 0.5:
        treatment = timed + rng.choice([0, 5, 10])
        parts.append(f"Total timed minutes: {timed}. Total treatment time: {treatment} min")
        totals = {"total_timed_minutes": timed, "total_treatment_minutes": treatment}
    one_on_one = rng.random() < 0.4
    if one_on_one:
        parts.append("Treatment provided one-on-one")
    signer = rng.choice(spec["signer"])
    body = ". ".join(parts) + "."
    note = f"Pt seen for outpatient {family}. {body}\nElectronically signed by {signer} 03/02/2026"
    return {"id": f"{family.lower()}-syn-{number:03d}", "family": family, "note": note,
            "expect": {"interventions": expected, "not_furnished": not_furnished, **totals,
                       "one_on_one": True if one_on_one else None, "signed_by": signer}}


def slp_note(rng: random.Random, number: int) -> dict[str, Any]:
    code = rng.choice(list(SLP))
    name = rng.choice(SLP[code])
    minutes = rng.randint(15, 45)
    text, documented = minute_text(rng, name, minutes)
    signer = rng.choice(["Alex Moreno, MA, CCC-SLP", "Jen Liu, CCC-SLP"])
    note = f"SLP tx session. {text}. Pt demonstrated understanding of strategies.\nSigned: {signer}"
    return {"id": f"slp-syn-{number:03d}", "family": "SLP", "note": note,
            "expect": {"interventions": [{"code": code, "minutes": documented, "assistant_minutes": 0}],
                       "signed_by": signer}}


def counseling_note(rng: random.Random, kind: str, number: int) -> dict[str, Any]:
    minutes = rng.randint(5, 40)
    signer = rng.choice(["Jo Ng, NP", "Pat Kim, MD", "Lee Grant, LCSW", "Ana Silva, PsyD"])
    if kind == "HBAI":
        code = rng.choice(list(HBAI))
        name = rng.choice(HBAI[code])
        extra = " addressing adherence to insulin for type 2 diabetes"
    elif kind == "tobacco":
        code, name, extra = "99406", rng.choice(TOBACCO), ". Pt smokes 1 ppd, set quit date"
    else:
        code, name = rng.choice(ALCOHOL)
        extra = ". AUDIT-C score 6"
    text, documented = minute_text(rng, name, minutes)
    note = f"{text}{extra}.\n{signer}"
    return {"id": f"{kind.lower()}-syn-{number:03d}", "family": kind, "note": note,
            "expect": {"interventions": [{"code": code, "minutes": documented, "assistant_minutes": 0}],
                       "signed_by": signer}}


def coaching_note(rng: random.Random, number: int) -> dict[str, Any]:
    code, name = rng.choice(COACH)
    minutes = rng.randint(30, 60)
    text, documented = minute_text(rng, name, minutes)
    signer = rng.choice(["Sam Reyes, NBC-HWC", "Taylor Brooks, NBC-HWC"])
    group = ""
    expect: dict[str, Any] = {"interventions": [{"code": code, "minutes": documented, "assistant_minutes": 0}],
                              "signed_by": signer}
    if code == "0593T":
        size = rng.randint(3, 9)
        group = f" Group of {size} participants."
        expect["group_size"] = size
        expect["one_on_one"] = False
    note = f"{text} on sleep and activity goals.{group} Goal: walk 30 minutes 5 days a week.\n{signer}"
    return {"id": f"coach-syn-{number:03d}", "family": "coaching", "note": note, "expect": expect}


def main() -> None:
    rng = random.Random(13)
    notes: list[dict[str, Any]] = []
    for number in range(60):
        notes.append(therapy_note(rng, "PT", number))
    for number in range(40):
        notes.append(therapy_note(rng, "OT", number))
    for number in range(20):
        notes.append(slp_note(rng, number))
    for kind in ("HBAI", "tobacco", "alcohol"):
        for number in range(15):
            notes.append(counseling_note(rng, kind, number))
    for number in range(15):
        notes.append(coaching_note(rng, number))
    header = ("# Synthetic notes with their expected extraction, written by scripts/notes_labelled_set.py from its\n"
              "# templates' parameters (never by running the note reader). Do not edit by hand; re-run the script.\n")
    OUT.write_text(header + yaml.safe_dump({"notes": notes}, sort_keys=False, allow_unicode=True, width=120),
                   encoding="utf-8")
    print(f"wrote {len(notes)} notes to {OUT}")


if __name__ == "__main__":
    main()
