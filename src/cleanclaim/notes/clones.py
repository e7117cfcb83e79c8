"""Cloned notes: notes of one provider across patients, or of one patient across visits, that are the same text with
only dates, times, numbers or the patient's name changed.

Why it matters: a reviewer pays for the service the record shows was furnished to this patient on this date. A note
copied forward with the date changed does not show that; CMS contractors and the OIG list cloned documentation among
the top findings of medical review (OIG OEI-01-11-00571, 2014; CMS Pub 100-08 ch. 3 §3.3.2).

How (fast enough for 100,000 notes, and exact in what it reports):
1. Normalise: lower case; the patient's first and last name (where the encounter gives them) become ``<name>``;
   dates, clock times and numbers become ``<date>``, ``<time>``, ``<num>``; punctuation is dropped.
2. Notes whose normalised text is identical form one group at once (a template pasted for 500 patients costs one
   dictionary entry, not 125,000 comparisons).
3. The distinct normalised texts are cut into shingles (runs of ``shingle_words`` words); datasketch's MinHash and
   LSH find candidate pairs whose estimated Jaccard similarity is near the threshold or above.
4. Each candidate pair is confirmed by the exact Jaccard similarity of the shingle sets (the reported figure, never
   the estimate), and kept only when the two notes are of the same provider (different patients) or of the same
   patient (different encounters).
The settings live in ``cleanclaim/rules/data/cloned_notes.toml``.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from datasketch import MinHash, MinHashLSH

from cleanclaim.errors import DataError

__all__ = ["CloneMatch", "CloneSettings", "NoteRecord", "clone_settings", "find_clones", "normalise", "shingles"]

_SETTINGS_FILE = "cloned_notes.toml"

_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE = re.compile(
    r"\b\d{4}-\d{1,2}-\d{1,2}\b"                       # 2026-03-02
    r"|\b\d{1,2}[/.-]\d{1,2}(?:[/.-]\d{2,4})?\b"        # 3/2, 03/02/2026, 3-2-26
    rf"|\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"  # March 2, Mar 2nd 2026
    rf"|\b\d{{1,2}}\s+{_MONTH}(?:\s+\d{{4}})?",       # 2 March 2026
    re.IGNORECASE)
_TIME = re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?(?:\s*[ap]\.?m\.?)?|\b\d{1,2}\s*[ap]\.?m\.?\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"<(?:name|date|time|num)>|[a-z]+")


@dataclass(frozen=True)
class CloneSettings:
    shingle_words: int
    num_perm: int
    lsh_threshold: float
    similarity_threshold: float
    min_words: int


@cache
def clone_settings() -> CloneSettings:
    """The settings from the package data file, checked once."""
    where = f"cleanclaim/rules/data/{_SETTINGS_FILE}"
    data = tomllib.loads(resources.files("cleanclaim.rules").joinpath("data", _SETTINGS_FILE).read_text("utf-8"))
    try:
        settings = CloneSettings(
            shingle_words=int(data["shingle_words"]), num_perm=int(data["num_perm"]),
            lsh_threshold=float(data["lsh_threshold"]), similarity_threshold=float(data["similarity_threshold"]),
            min_words=int(data["min_words"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{where}: expected shingle_words, num_perm, lsh_threshold, similarity_threshold and "
                        f"min_words ({exc})") from exc
    if not (0 < settings.lsh_threshold <= 1 and 0 < settings.similarity_threshold <= 1
            and settings.shingle_words >= 1 and settings.num_perm >= 16 and settings.min_words >= 1):
        raise DataError(f"{where}: thresholds must be in (0, 1], shingle_words >= 1, num_perm >= 16, min_words >= 1")
    return settings


@dataclass(frozen=True)
class NoteRecord:
    """A note with who it is about and who wrote it."""

    encounter_id: str
    patient_id: str | None
    provider_npi: str | None
    text: str
    date: str | None = None
    patient_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class CloneMatch:
    """A note's closest clone: the other note, the exact similarity, and what differs between the raw texts."""

    encounter_id: str
    other_encounter_id: str
    similarity: float
    scope: str
    """``same provider`` (different patients) or ``same patient`` (different visits)."""
    differences: str
    other_matches: int
    """How many further notes of this batch are clones of this one."""


def normalise(text: str, names: Iterable[str] = ()) -> list[str]:
    """The note's words with names, dates, times and numbers replaced by placeholders."""
    lowered = text.lower()
    for name in sorted({n.strip().lower() for n in names if n and len(n.strip()) >= 2}, key=len, reverse=True):
        lowered = re.sub(rf"\b{re.escape(name)}\b", " <name> ", lowered)
    lowered = _DATE.sub(" <date> ", lowered)
    lowered = _TIME.sub(" <time> ", lowered)
    lowered = _NUMBER.sub(" <num> ", lowered)
    return _WORD.findall(lowered)


def shingles(words: Sequence[str], size: int) -> set[str]:
    if len(words) <= size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i:i + size]) for i in range(len(words) - size + 1)}


def _related(a: NoteRecord, b: NoteRecord) -> str | None:
    """Why two notes are comparable: the same patient on another visit, or the same provider for another patient."""
    if a.encounter_id == b.encounter_id:
        return None
    if a.patient_id is not None and a.patient_id == b.patient_id:
        return "same patient"
    if a.provider_npi is not None and a.provider_npi == b.provider_npi:
        return "same provider"
    return None


def _differences(a: str, b: str, limit: int = 5) -> str:
    """What changed from note ``b`` to note ``a``, word by word, the first few changes."""
    words_a, words_b = a.split(), b.split()
    changes: list[str] = []
    matcher = difflib.SequenceMatcher(None, words_b, words_a, autojunk=False)
    for tag, b0, b1, a0, a1 in matcher.get_opcodes():
        if tag == "equal":
            continue
        old, new = " ".join(words_b[b0:b1])[:40], " ".join(words_a[a0:a1])[:40]
        changes.append(f"'{old}' -> '{new}'" if old and new else f"added '{new}'" if new else f"dropped '{old}'")
    if not changes:
        return "the text is word for word the same"
    shown = "; ".join(changes[:limit])
    return shown + (f"; and {len(changes) - limit} more change(s)" if len(changes) > limit else "")


def find_clones(notes: Sequence[NoteRecord], settings: CloneSettings | None = None) -> list[CloneMatch]:
    """For every note with a clone in ``notes``, its closest clone (highest similarity, then earliest date, then
    encounter id), in the order of ``notes``."""
    config = settings or clone_settings()
    words = [normalise(note.text, note.patient_names) for note in notes]
    by_text: dict[str, list[int]] = defaultdict(list)
    for index, note_words in enumerate(words):
        if len(note_words) >= config.min_words:
            by_text[" ".join(note_words)].append(index)
    texts = list(by_text)
    text_shingles = [shingles(text.split(" "), config.shingle_words) for text in texts]
    similar: dict[int, list[tuple[int, float]]] = defaultdict(list)  # distinct text -> (other text, similarity)
    if len(texts) > 1:
        hashes = MinHash.bulk([[s.encode("utf-8") for s in group] for group in text_shingles],
                              num_perm=config.num_perm)
        lsh = MinHashLSH(threshold=config.lsh_threshold, num_perm=config.num_perm)
        with lsh.insertion_session() as session:
            for key, signature in enumerate(hashes):
                session.insert(key, signature, check_duplication=False)
        for key, signature in enumerate(hashes):
            for other in lsh.query(signature):
                if other <= key:
                    continue
                union = len(text_shingles[key] | text_shingles[other])
                jaccard = len(text_shingles[key] & text_shingles[other]) / union if union else 0.0
                if jaccard >= config.similarity_threshold:
                    similar[key].append((other, jaccard))
                    similar[other].append((key, jaccard))
    best: dict[int, tuple[float, int, str, int]] = {}  # note -> (similarity, other note, scope, how many)
    for key, text in enumerate(texts):
        members = by_text[text]
        candidates = [(other, 1.0) for other in members] + [
            (other, sim) for other_key, sim in similar.get(key, []) for other in by_text[texts[other_key]]]
        if len(candidates) < 2:
            continue
        for index in members:
            related = [(sim, other, scope) for other, sim in candidates if other != index
                       and (scope := _related(notes[index], notes[other])) is not None]
            if not related:
                continue
            related.sort(key=lambda item: (-item[0], notes[item[1]].date or "", notes[item[1]].encounter_id))
            sim, other, scope = related[0]
            best[index] = (sim, other, scope, len(related) - 1)
    return [CloneMatch(notes[index].encounter_id, notes[other].encounter_id, sim, scope,
                       _differences(notes[index].text, notes[other].text), more)
            for index, (sim, other, scope, more) in sorted(best.items())]
