"""Cloned-note detection over 100,000 synthetic notes with a known planted set of clones: wall time, precision and
recall. Run on demand: `.venv/bin/python bench/notes_clones.py` (BENCH_NOTES, BENCH_CLONE_GROUPS, BENCH_SEED).

Notes are composed from slot-filled sentences (exercises, body parts, measures, responses, plans), 8-12 sentences
each, so two independent notes share words but rarely whole runs of four. A planted clone copies a source note of
the same provider (another patient) or the same patient (another visit) and changes only its date, clock times and
numbers, plus, in half of them, one word. A note counts as found when it is flagged and the note it names is in its
planted group; precision is over every flagged note.
"""

from __future__ import annotations

import os
import random
import time

from cleanclaim.notes.clones import NoteRecord, clone_settings, find_clones

EXERCISES = ["quad sets", "straight leg raises", "heel slides", "mini squats", "step ups", "bridges", "clamshells",
             "hamstring curls", "calf raises", "wall slides", "rows with band", "shoulder flexion AAROM",
             "pendulums", "scapular retraction", "sit to stand", "lateral walks", "tandem stance", "marching",
             "seated knee extension", "ankle pumps", "bicep curls", "chin tucks", "pelvic tilts", "bird dogs"]
BODY = ["R knee", "L knee", "R shoulder", "L shoulder", "low back", "neck", "R hip", "L hip", "R ankle", "L wrist"]
SYMPTOMS = ["stiffness", "sharp pain", "aching", "weakness", "swelling", "tightness", "numbness", "fatigue"]
TRIGGERS = ["after walking", "with stairs", "on waking", "after work", "when reaching overhead", "at night",
            "with prolonged sitting", "after driving", "during housework", "with lifting"]
RESPONSES = ["tolerated well", "required rest breaks", "reported mild soreness", "needed verbal cues for form",
             "demonstrated improved control", "fatigued quickly", "was motivated", "needed tactile cues",
             "showed better balance", "had difficulty with sequencing"]
SKILLS = ["shower transfers", "toilet transfers", "lower body dressing", "meal preparation", "medication management",
          "bed mobility", "car transfers", "grooming at the sink", "laundry tasks", "use of reacher"]
PLANS = ["progress resistance", "add balance work", "reassess ROM", "update HEP", "begin gait on stairs",
         "trial of cane", "review home safety", "increase repetitions", "discharge planning", "contact physician"]
EDITS = ["tolerated", "continue", "progressing", "reports", "cues"]


def _sentence(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return (f"Pt reports {rng.choice(SYMPTOMS)} in {rng.choice(BODY)} {rng.choice(TRIGGERS)}, rated "
                f"{rng.randint(1, 9)}/10.")
    if kind == 1:
        picks = rng.sample(EXERCISES, 3)
        return (f"Therapeutic exercise {rng.randint(8, 38)} min: {picks[0]} {rng.randint(2, 3)}x{rng.randint(8, 15)}, "
                f"{picks[1]} {rng.randint(2, 3)}x{rng.randint(8, 15)} and {picks[2]}.")
    if kind == 2:
        return f"Self-care training {rng.randint(8, 30)} min on {rng.choice(SKILLS)} and {rng.choice(SKILLS)}."
    if kind == 3:
        return f"Patient {rng.choice(RESPONSES)} and {rng.choice(RESPONSES)} during {rng.choice(EXERCISES)}."
    if kind == 4:
        return f"Plan: {rng.choice(PLANS)}, then {rng.choice(PLANS)} by {rng.randint(1, 12)}/{rng.randint(1, 28)}."
    return (f"Seen {rng.randint(7, 11)}:{rng.randint(0, 59):02d}-{rng.randint(12, 16)}:{rng.randint(0, 59):02d}; "
            f"goal: {rng.choice(SKILLS)} independently in {rng.randint(2, 8)} weeks.")


def _note(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(8, 12)))


def _renumber(text: str, rng: random.Random) -> str:
    out, digits = [], False
    for char in text:
        if char.isdigit():
            if not digits:
                out.append(str(rng.randint(1, 40)))
            digits = True
        else:
            digits = False
            out.append(char)
    words = "".join(out).split(" ")
    if rng.random() < 0.5:
        words[rng.randrange(len(words))] = rng.choice(EDITS)
    return " ".join(words)


def generate(count: int, groups: int, seed: int) -> tuple[list[NoteRecord], dict[str, int]]:
    """``count`` notes of which ``groups`` groups of 2-4 are planted clones; returns the notes and each planted
    note's group."""
    rng = random.Random(seed)
    providers = [f"{1_000_000_000 + i}" for i in range(200)]
    notes: list[NoteRecord] = []
    group_of: dict[str, int] = {}
    for group in range(groups):
        provider, patient = rng.choice(providers), f"P{len(notes)}"
        source = _note(rng)
        size = rng.randint(2, 4)
        same_patient = rng.random() < 0.5
        for member in range(size):
            text = source if member == 0 else _renumber(source, rng)
            member_patient = patient if same_patient else f"{patient}-{member}"
            encounter = f"E{len(notes)}"
            notes.append(NoteRecord(encounter, member_patient, provider, text, f"2026-03-{member + 1:02d}"))
            group_of[encounter] = group
    while len(notes) < count:
        encounter = f"E{len(notes)}"
        notes.append(NoteRecord(encounter, f"P{len(notes)}", rng.choice(providers), _note(rng), "2026-03-01"))
    rng.shuffle(notes)
    return notes[:count], group_of


def main() -> None:
    count = int(os.environ.get("BENCH_NOTES", "100000"))
    groups = int(os.environ.get("BENCH_CLONE_GROUPS", "2000"))
    seed = int(os.environ.get("BENCH_SEED", "2026"))
    started = time.perf_counter()
    notes, group_of = generate(count, groups, seed)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    cpu_started = time.process_time()
    matches = find_clones(notes, clone_settings())
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    flagged = {m.encounter_id: m for m in matches}
    right = sum(1 for m in matches if m.encounter_id in group_of
                and group_of.get(m.other_encounter_id) == group_of[m.encounter_id])
    planted = len(group_of)
    precision = right / len(flagged) if flagged else 1.0
    recall = right / planted if planted else 1.0
    print(f"notes {len(notes):,}  planted clone notes {planted:,} in {groups:,} groups  "
          f"(generated in {generated:.1f} s)")
    print(f"find_clones: {elapsed:.1f} s wall, {cpu:.1f} s CPU of this process  ({len(notes) / elapsed:,.0f} notes/s)  "
          f"flagged {len(flagged):,}")
    print(f"load average while it ran (2 cores shared): {os.getloadavg()[0]:.1f}")
    print(f"precision {precision:.4f}  recall {recall:.4f}")


if __name__ == "__main__":
    main()
