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
3. The distinct normalised texts are cut into shingles (runs of ``shingle_words`` words, as 64-bit codes); MinHash
   signatures (computed for thousands of notes at once in NumPy) go into datasketch's LSH index, which finds the
   candidate pairs whose estimated Jaccard similarity is near the threshold or above.
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

import numpy as np

from cleanclaim.errors import DataError

__all__ = ["CloneMatch", "CloneSettings", "NoteRecord", "clone_settings", "find_clones", "normalise", "shingle_codes"]

_SETTINGS_FILE = "cloned_notes.toml"

# One pass over the digits: a run like 03/02/2026, 2026-03-02, 10:05-10:30, 10am, 8-10 or 23 is one token, then
# classed as a date, a time or a number (a callback per run is far cheaper than one regex per class).
_NUMERIC = re.compile(r"\d+(?:[:/.,-]\d+)*(?:\s*[ap]\.?m\b\.?)?")
_WORD = re.compile(r"<(?:name|date|time|num)>|[a-z]+")
_MONTHS = frozenset({"january", "february", "march", "april", "june", "july", "august", "september", "october",
                     "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
                     "nov", "dec"})  # "may" is left out: it is far more often the verb
_SHINGLE_MULTIPLIER = 0x9E3779B97F4A7C15  # 2^64 / golden ratio: spreads word ids over 64 bits
_CHUNK_SHINGLES = 20_000  # shingles hashed at once (x num_perm x 8 bytes: 10 MB, cache-friendly)


def _placeholder(match: re.Match[str]) -> str:
    token = match.group()
    if ":" in token or (token[-1] in "mM." and token.rstrip(".")[-1:] in ("m", "M")):
        return " <time> "
    if "/" in token or len(re.split(r"[-.]", token)) == 3:
        return " <date> "
    return " <num> "


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
    """The note's words with names, dates (numeric or month names), clock times and numbers replaced by
    placeholders."""
    lowered = text.lower()
    for name in sorted({n.strip().lower() for n in names if n and len(n.strip()) >= 2}, key=len, reverse=True):
        lowered = re.sub(rf"\b{re.escape(name)}\b", " <name> ", lowered)
    words = _WORD.findall(_NUMERIC.sub(_placeholder, lowered))
    return ["<date>" if word in _MONTHS else word for word in words]


def shingle_codes(word_ids: Sequence[Sequence[int]], size: int) -> list[np.ndarray]:
    """Each note's shingles (runs of ``size`` words) as sorted distinct 64-bit codes: a polynomial of the word ids
    with 64-bit wrap-around, so two shingles share a code only if they are the same words (or, with odds of about
    one in 2^64 per pair, by collision). All notes at once: a NumPy pass over the concatenated ids, not a loop per
    note. A note shorter than ``size`` words is one shingle of all its words."""
    lengths = np.fromiter((len(ids) for ids in word_ids), dtype=np.int64, count=len(word_ids))
    if not len(word_ids):
        return []
    ids = np.fromiter((i for note in word_ids for i in note), dtype=np.uint64, count=int(lengths.sum()))
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    width = np.minimum(lengths, size)  # a short note's one shingle is all its words
    owner = np.repeat(np.arange(len(word_ids)), lengths)
    position = np.arange(ids.size) - starts[owner]
    keep = position <= lengths[owner] - width[owner]
    codes = np.zeros(ids.size, dtype=np.uint64)
    multiplier = np.uint64(_SHINGLE_MULTIPLIER)
    padded = np.concatenate((ids, np.zeros(size, dtype=np.uint64)))
    with np.errstate(over="ignore"):
        for offset in range(size):
            used = (offset < width[owner]).astype(np.uint64)  # a short note stops adding at its last word
            codes = codes * np.where(used == 1, multiplier, np.uint64(1)) + (padded[offset:offset + ids.size]
                                                                               + np.uint64(1)) * used
    codes, owner = codes[keep], owner[keep]
    order = np.lexsort((codes, owner))
    codes, owner = codes[order], owner[order]
    first = np.ones(codes.size, dtype=bool)
    first[1:] = (codes[1:] != codes[:-1]) | (owner[1:] != owner[:-1])
    codes, owner = codes[first], owner[first]
    return np.split(codes, np.searchsorted(owner, np.arange(1, len(word_ids))))


def _signatures(code_sets: list[np.ndarray], num_perm: int) -> np.ndarray:
    """MinHash signatures, one row per set: the minimum over the set of ``num_perm`` multiply-shift hashes
    ((a * x + b) mod 2^64) >> 32 with random odd ``a`` (seeded: the same notes give the same candidates on every
    run). Computed for many sets at once: datasketch's own per-set update costs a Python loop per shingle."""
    rng = np.random.default_rng(20260101)
    multipliers = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) | np.uint64(1)
    offsets = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    signatures = np.empty((len(code_sets), num_perm), dtype=np.uint64)
    shift = np.uint64(32)
    start = 0
    while start < len(code_sets):
        stop, total = start, 0
        while stop < len(code_sets) and (total == 0 or total + code_sets[stop].size <= _CHUNK_SHINGLES):
            total += code_sets[stop].size
            stop += 1
        chunk = code_sets[start:stop]
        hashed = np.empty((total, num_perm), dtype=np.uint64)
        with np.errstate(over="ignore"):
            np.multiply(np.concatenate(chunk)[:, None], multipliers, out=hashed)
            hashed += offsets
            hashed >>= shift
        bounds = np.cumsum([0] + [c.size for c in chunk[:-1]])
        signatures[start:stop] = np.minimum.reduceat(hashed, bounds, axis=0)
        start = stop
    return signatures


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    shared = np.intersect1d(a, b, assume_unique=True).size
    union = a.size + b.size - shared
    return shared / union if union else 0.0


def _related(a: NoteRecord, b: NoteRecord) -> str | None:
    """Why two notes are comparable: the same patient on another visit, or the same provider for another patient."""
    if a.encounter_id == b.encounter_id:
        return None
    if a.patient_id is not None and a.patient_id == b.patient_id:
        return "same patient"
    if a.provider_npi is not None and a.provider_npi == b.provider_npi:
        return "same provider"
    return None


def _masked(text: str, names: Iterable[str]) -> list[str]:
    """The note's words with the patients' names (where the encounters give them) shown as <name>: a finding quotes
    the words that differ, and a name is not the user's identifier to repeat."""
    hidden = {n.strip().lower() for n in names if n and len(n.strip()) >= 2}
    return ["<name>" if word.strip(".,;:!?()'\"").lower() in hidden else word for word in text.split()]


def _differences(a: NoteRecord, b: NoteRecord, limit: int = 5) -> str:
    """What changed from note ``b`` to note ``a``, word by word, the first few changes."""
    names = (*a.patient_names, *b.patient_names)
    words_a, words_b = _masked(a.text, names), _masked(b.text, names)
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
    vocabulary: dict[str, int] = {}
    by_text: dict[str, list[int]] = defaultdict(list)
    for index, note in enumerate(notes):
        words = normalise(note.text, note.patient_names)
        if len(words) >= config.min_words:
            by_text[" ".join(words)].append(index)
    texts = list(by_text)
    code_sets = shingle_codes([[vocabulary.setdefault(w, len(vocabulary)) for w in text.split(" ")]
                               for text in texts], config.shingle_words)
    similar: dict[int, list[tuple[int, float]]] = defaultdict(list)  # distinct text -> (other text, similarity)
    if len(texts) > 1:
        # imported here: datasketch (and the scipy it loads) costs seconds of start-up every other command would pay
        from datasketch import LeanMinHash, MinHashLSH

        signatures = _signatures(code_sets, config.num_perm)
        lsh = MinHashLSH(threshold=config.lsh_threshold, num_perm=config.num_perm)
        hashes = [LeanMinHash(seed=1, hashvalues=row, scheme="affine32") for row in signatures]
        with lsh.insertion_session() as session:
            for key, signature in enumerate(hashes):
                session.insert(key, signature, check_duplication=False)
        for key, signature in enumerate(hashes):
            for other in lsh.query(signature):
                if other <= key:
                    continue
                jaccard = _jaccard(code_sets[key], code_sets[other])
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
                       _differences(notes[index], notes[other]), more)
            for index, (sim, other, scope, more) in sorted(best.items())]
