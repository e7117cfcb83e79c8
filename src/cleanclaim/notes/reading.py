"""Reading a clinical note: which interventions were furnished, for how many minutes, by whom, and what else the
record must show (totals, one-on-one or group, goals, ADLs trained, caregiver, capacity to learn, signature).

Offline and deterministic: regular expressions from the lexicon data file, section headings, and a small
ConText-style engine (trigger terms with a scope that ends at a termination term or the clause) for what was not
furnished ("Pt declined gait training"), planned ("Plan: progress GT") or history ("last visit"). Every item keeps
its character span in the note as given, so a reviewer can see exactly what was read.

Why a minute range counts as its lower bound: "NMR 8-10 min" documents at least 8 minutes and no more than 10; only
the 8 are shown by the record, and a reviewer pays what the record supports (CMS Pub 100-04 Ch.5 s20.2: the
minutes billed must be documented). Billing the upper bound would claim minutes the note does not show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cleanclaim.notes.lexicon import Lexicon, entry_of, lexicon

__all__ = [
    "MAX_NOTE_CHARS",
    "Intervention",
    "NotFurnished",
    "NoteProblem",
    "NoteReading",
    "Signature",
    "Span",
    "read_note",
]

MAX_NOTE_CHARS = 200_000
"""Characters of a note read at most. A therapy or counseling note is a few thousand characters; a longer one is
pasted material (a whole chart, a document), and reading past this would only slow a batch for nothing."""


@dataclass(frozen=True)
class Span:
    """A piece of the note: its text and where it is (``start`` inclusive, ``end`` exclusive)."""

    text: str
    start: int
    end: int

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class Intervention:
    """A service the note says was furnished."""

    code: str | None
    codes: tuple[str, ...]
    name: str
    minutes: int | None
    assistant_minutes: int
    units: int | None
    text: str
    start: int
    end: int
    group: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "minutes": self.minutes,
                "assistant_minutes": self.assistant_minutes, "units": self.units, "text": self.text,
                "start": self.start, "end": self.end}


@dataclass(frozen=True)
class NotFurnished:
    """A service the note names but that was not furnished as a separate service today: declined, deferred,
    planned, history, or part of another service ("HEP reviewed")."""

    code: str | None
    name: str
    reason: str  # declined | planned | history | not-separate
    text: str
    start: int
    end: int

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "reason": self.reason, "text": self.text,
                "start": self.start, "end": self.end}


@dataclass(frozen=True)
class Signature:
    text: str
    start: int
    end: int
    name: str | None
    credentials: tuple[str, ...]

    @property
    def signed_by(self) -> str | None:
        if self.name is None:
            return None
        return ", ".join([self.name, *self.credentials]) if self.credentials else self.name


@dataclass(frozen=True)
class NoteProblem:
    """Why the note could not be read, or not completely: empty, binary, too long, markup, another language."""

    kind: str
    message: str


@dataclass
class NoteReading:
    """What was read from one note. ``interventions`` are the services furnished; everything else named but not
    furnished is in ``not_furnished``."""

    interventions: list[Intervention] = field(default_factory=list)
    not_furnished: list[NotFurnished] = field(default_factory=list)
    total_timed_minutes: int | None = None
    total_treatment_minutes: int | None = None
    totals: list[Span] = field(default_factory=list)
    one_on_one: bool | None = None
    group_size: int | None = None
    goals: list[Span] = field(default_factory=list)
    adls: list[Span] = field(default_factory=list)
    caregiver_present: bool | None = None
    capacity_to_learn: Span | None = None
    signature: Signature | None = None
    problems: list[NoteProblem] = field(default_factory=list)

    @property
    def signed_by(self) -> str | None:
        return self.signature.signed_by if self.signature else None

    def minutes_by_code(self) -> dict[str, int | None]:
        """Each furnished code's documented minutes (several mentions add up; None when no mention gives any)."""
        found: dict[str, int | None] = {}
        for item in self.interventions:
            if item.code is None:
                continue
            if item.minutes is None:
                found.setdefault(item.code, None)
            else:
                found[item.code] = (found.get(item.code) or 0) + item.minutes
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "interventions": [i.to_json() for i in self.interventions],
            "not_furnished": [n.to_json() for n in self.not_furnished],
            "total_timed_minutes": self.total_timed_minutes,
            "total_treatment_minutes": self.total_treatment_minutes,
            "one_on_one": self.one_on_one,
            "group_size": self.group_size,
            "goals": [g.text for g in self.goals],
            "adls": [a.to_json() for a in self.adls],
            "caregiver_present": self.caregiver_present,
            "capacity_to_learn": self.capacity_to_learn.text if self.capacity_to_learn else None,
            "signed_by": self.signed_by,
            "credentials": list(self.signature.credentials) if self.signature else [],
            "problems": [{"kind": p.kind, "message": p.message} for p in self.problems],
        }


# ---- input screening -------------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\ufffd]")
_HTML_TAG = re.compile(r"<\s*/?\s*(?:html|head|body|p|div|br|span|table|tr|td|th|b|i|u|em|strong|font|ul|ol|li|h[1-6]|"
                       r"style|meta|!DOCTYPE)\b[^>]*>", re.IGNORECASE)
_HTML_ENTITY = re.compile(r"&(?:nbsp|amp|lt|gt|quot|#\d{1,5});", re.IGNORECASE)
_RTF = re.compile(r"\\[a-z]{1,32}-?\d{0,10} ?|\\'[0-9a-f]{2}|[{}]", re.IGNORECASE)
_LETTER = re.compile(r"[^\W\d_]")
_SPANISH = re.compile(r"\b(?:el|la|los|las|paciente|ejercicios?|minutos|terapia|marcha|con|para|del|hoy|tolerado)\b",
                      re.IGNORECASE)
_ENGLISH = re.compile(r"\b(?:the|and|with|patient|pt|minutes?|min|for|to|of|today|tolerated)\b", re.IGNORECASE)


def _blank(match: re.Match[str]) -> str:
    return " " * (match.end() - match.start())


def _screen(text: str) -> tuple[str, list[NoteProblem], bool]:
    """The text to read (same length as the note, markup blanked, so spans index the note as given), the problems
    found, and whether reading is worth it at all."""
    problems: list[NoteProblem] = []
    if not text.strip():
        return text, [NoteProblem("empty", "the note is empty")], False
    sample = text[:4096]
    if "\x00" in sample or len(_CONTROL.findall(sample)) > max(3, len(sample) // 50):
        return text, [NoteProblem("binary", "the note is not text (binary data: control bytes or undecodable "
                                            "characters); nothing was read from it")], False
    if len(text) > MAX_NOTE_CHARS:
        problems.append(NoteProblem("too-long", f"the note has {len(text):,} characters; only the first "
                                                f"{MAX_NOTE_CHARS:,} were read (a visit note is a few thousand)"))
        text = text[:MAX_NOTE_CHARS]
    if text.lstrip().startswith("{\\rtf"):
        problems.append(NoteProblem("rtf", "the note is RTF (a word-processor document pasted in); its control "
                                           "words were skipped and the text read"))
        text = _RTF.sub(_blank, text)
    elif _HTML_TAG.search(text):
        problems.append(NoteProblem("html", "the note contains HTML markup (pasted from a web page or an EHR "
                                            "export); the tags were skipped and the text read"))
        text = _HTML_ENTITY.sub(_blank, _HTML_TAG.sub(_blank, text))
    letters = _LETTER.findall(sample)
    if letters:
        foreign = sum(1 for ch in letters if ord(ch) > 0x24F)  # beyond Latin: Cyrillic, CJK, Arabic ...
        spanish, english = len(_SPANISH.findall(sample)), len(_ENGLISH.findall(sample))
        if foreign / len(letters) > 0.3 or spanish > max(2, english):
            problems.append(NoteProblem("language", "the note is largely not in English; cleanclaim's lexicon is "
                                                    "English, so services written in another language were not "
                                                    "read"))
    return text, problems, True


# ---- sections and clauses --------------------------------------------------------------------------------------

_HEADING = re.compile(
    r"(?im)^[ \t>*#-]*(?P<name>S|O|A|P|Subjective|Objective|Assessment|Plan(?:\s+of\s+care)?|Goals?|STGs?|LTGs?|"
    r"Short[- ]term\s+goals?|Long[- ]term\s+goals?|Treatment|Tx|Interventions?|Services|History|HPI|PMH|"
    r"Prior\s+(?:visit|session)s?|Previous\s+(?:visit|session)s?|Billing|Charges|Education)\s*[:\-]")
_SECTION_KIND = {"p": "plan", "plan": "plan", "plan of care": "plan", "goal": "goals", "goals": "goals",
                 "stg": "goals", "stgs": "goals", "ltg": "goals", "ltgs": "goals", "history": "history",
                 "hpi": "history", "pmh": "history"}


def _section_kind(name: str) -> str:
    key = re.sub(r"\s+", " ", name.strip().lower())
    if key.startswith(("short", "long")):
        return "goals"
    if key.startswith(("prior", "previous")):
        return "history"
    return _SECTION_KIND.get(key, "other")


def _sections(text: str) -> list[tuple[int, str]]:
    """(start offset, kind) of each section, in order; the note starts in an "other" section."""
    found = [(0, "other")]
    for match in _HEADING.finditer(text):
        found.append((match.start("name"), _section_kind(match.group("name"))))
        line_end = text.find("\n", match.end())
        line_end = len(text) if line_end == -1 else line_end
        if text[match.end():line_end].strip():
            # "Goal: shower independently" or "P: continue GT": the heading's own line is the whole section
            found.append((line_end, "other"))
        else:
            # a heading on its own line heads the block below it, up to a blank line
            blank = re.compile(r"\n[ \t]*\n").search(text, line_end)
            if blank:
                found.append((blank.start() + 1, "other"))
    found.sort(key=lambda item: item[0])
    return found


def _kind_at(sections: list[tuple[int, str]], offset: int) -> str:
    kind = "other"
    for start, section in sections:
        if start > offset:
            break
        kind = section
    return kind


# a clause ends at a line break, a semicolon, a bullet, or a full stop followed by a space (not "min." inside a
# clause, which is followed by more of the same clause only rarely: "23 min. Pt tolerated" ends there too)
_CLAUSE_END = re.compile(r"\n|;|•|\.(?=\s)|\.$")


def _clauses(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _CLAUSE_END.finditer(text):
        if match.start() > start:
            spans.append((start, match.start()))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


# ---- minutes -----------------------------------------------------------------------------------------------------

_WORD_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
                 "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "twenty-five": 25,
                 "twenty five": 25, "thirty": 30, "thirty-five": 35, "forty": 40, "forty-five": 45, "forty five": 45,
                 "fifty": 50, "sixty": 60}
_NUMBER_WORD = "|".join(sorted((re.escape(w) for w in _WORD_NUMBERS), key=len, reverse=True))
_MIN = r"(?:min(?:ute)?s?|mins?|mns?|minuets?|minuts?|mintues?|mnts?)\b"
_MINUTES = re.compile(
    rf"(?P<clock>(?P<h1>[01]?\d|2[0-3]):(?P<m1>[0-5]\d)\s*(?P<ap1>[ap]\.?m\.?)?\s*(?:-|–|—|to|until)\s*"
    rf"(?P<h2>[01]?\d|2[0-3]):(?P<m2>[0-5]\d)\s*(?:[ap]\.?m\.?)?)"
    rf"|(?P<hm>(?P<hours>\d)\s*(?:hours?|hrs?|h)\s*(?:and\s*)?(?P<hmin>\d{{1,2}})\s*{_MIN})"
    rf"|(?P<hr>(?P<hrs>\d(?:\.\d+)?)\s*(?:hours?|hrs?)\b)"
    rf"|(?P<range>(?P<low>\d{{1,3}})\s*(?:-|–|—|to)\s*(?P<high>\d{{1,3}})\s*{_MIN})"
    rf"|(?P<min>(?P<n>\d{{1,3}})\s*{_MIN})"
    rf"|(?P<word>(?P<w>{_NUMBER_WORD})\s*{_MIN})"
    rf"|(?P<prime>(?P<x>x\s*)?(?P<p>\d{{1,3}})\s*(?:'|′|’)(?![A-Za-z0-9'′’]))"
    rf"|(?P<units>(?P<u>\d{{1,2}}|one|two|three|four)\s*units?\b)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Amount:
    start: int
    end: int
    minutes: int | None
    units: int | None
    weak: bool  # a bare 23' binds only to the service right before it (feet look the same)


def _amount(match: re.Match[str]) -> _Amount | None:
    g = match.group
    if g("clock"):
        first = int(g("h1")) * 60 + int(g("m1"))
        last = int(g("h2")) * 60 + int(g("m2"))
        span = last - first
        if span <= 0:
            span += 12 * 60  # 12-hour clock across noon: 12:50-1:15
        return _Amount(match.start(), match.end(), span if 0 < span <= 240 else None, None, False)
    if g("hm"):
        return _Amount(match.start(), match.end(), int(g("hours")) * 60 + int(g("hmin")), None, False)
    if g("hr"):
        return _Amount(match.start(), match.end(), round(float(g("hrs")) * 60), None, False)
    if g("range"):
        low, high = int(g("low")), int(g("high"))
        return _Amount(match.start(), match.end(), min(low, high), None, False)
    if g("min"):
        return _Amount(match.start(), match.end(), int(g("n")), None, False)
    if g("word"):
        return _Amount(match.start(), match.end(), _WORD_NUMBERS[g("w").lower()], None, False)
    if g("prime"):
        value = int(g("p"))
        return _Amount(match.start(), match.end(), value, None, not g("x")) if value <= 120 else None
    if g("units"):
        raw = g("u").lower()
        units = int(raw) if raw.isdigit() else _WORD_NUMBERS[raw]
        return _Amount(match.start(), match.end(), None, units, False)
    return None


# ---- totals, group, goals, ADLs, caregiver, learning, signature ------------------------------------------------

_NUM = r"(?P<v>\d{1,3})"
_NUM2 = r"(?P<v2>\d{1,3})"
_TOTAL_TIMED = re.compile(
    rf"(?i)(?:total\s+timed(?:\s+code)?(?:\s+(?:treatment|tx|service))?\s*(?:minutes|mins?|time)?|timed\s+code\s+"
    rf"(?:minutes|mins?|time)|total\s+timed|timed\s+(?:minutes|mins)|\bTTM\b)\s*(?:[:=]|was|were|of|-)?\s*{_NUM}"
    rf"|{_NUM2}\s*(?:minutes|mins?)?\s+(?:total\s+)?timed(?:\s+code)?\s+(?:minutes|mins?|treatment)")
_TOTAL_TREATMENT = re.compile(
    rf"(?i)(?:total\s+(?:treatment|tx|session|visit|therapy|face[-\s]to[-\s]face)\s+(?:time|minutes|mins?)|"
    rf"total\s+(?:time|minutes)|treatment\s+time|session\s+(?:length|time)|\bTTT\b|total\s+tx)\s*"
    rf"(?:[:=]|was|of|-)?\s*{_NUM}"
    rf"|{_NUM2}\s*(?:minutes|mins?)\s+total\s+(?:treatment|tx|session)\s+time")
_ONE_ON_ONE = re.compile(r"(?i)one[-\s]on[-\s]one|\b1\s*:\s*1\b(?!\s*\d)|\b1-on-1\b|individual(?:ly)?\s+(?:session|"
                         r"treatment|therapy)|direct\s+one|constant\s+attendance")
_GROUP_SIZE = re.compile(
    rf"(?i)group\s+(?:size\s*[:=]?\s*|of\s+)(?P<a>\d{{1,2}}|{_NUMBER_WORD})\b"
    rf"|(?P<b>\d{{1,2}}|{_NUMBER_WORD})\s+(?:other\s+)?(?:pts|patients|participants|members|clients|people|"
    rf"individuals|beneficiaries)\b(?!\s+(?:seen|scheduled)\s+(?:this|today))"
    rf"|\((?P<c>\d{{1,2}})\s*(?:pts?|patients|participants)\)")
_GOAL = re.compile(
    r"(?im)(?:^[ \t>*#-]*(?:(?:short|long)[-\s]term\s+goals?|STGs?|LTGs?|goals?)\s*(?:#?\s*\d+)?\s*[:\-.)]\s*"
    r"|\b(?:goal|STG|LTG)\s*(?:#?\s*\d+)?\s*(?::|is\s+to|-)\s*|\btoward(?:s)?\s+(?:the\s+)?goal\s+(?:of\s+)?)"
    r"(?P<g>[^\n;]{4,}?)(?=\.\s|\.$|;|\n|$)")
_GOAL_LINE = re.compile(r"(?m)^[ \t]*(?:[-*•]|\d+[.)])?[ \t]*(?P<g>\S[^\n]{3,})$")
_ADL = re.compile(
    r"(?i)\b(?:(?:UB|LB|upper\s+body|lower\s+body)\s+)?(?:dressing|bathing|showering|shower\s+transfers?|tub\s+transfers?|"
    r"toilet(?:ing)?(?:\s+transfers?)?|grooming|feeding|self[-\s]feeding|eating|hygiene|meal\s+prep(?:aration)?|"
    r"cooking|laundry|housekeeping|home\s+management|medication\s+management|money\s+management|"
    r"kitchen\s+(?:safety|mobility)|(?:safe\s+)?use\s+of\s+(?:a\s+)?(?:tub\s+bench|shower\s+chair|grab\s+bars?|"
    r"reacher|sock\s+aid|long[-\s]handled\s+sponge)|donning|doffing|oral\s+care|household\s+tasks|IADLs?|ADLs?)\b")
_CAREGIVER = re.compile(
    r"(?i)\b(?:caregiver|care\s*giver|CG|spouse|wife|husband|daughter|son|mother|father|mom|dad|parent|family"
    r"(?:\s+member)?|aide)\b[^.\n;]{0,30}?\b(?:present|attended|participated|in\s+attendance|observed|trained|"
    r"instructed|educated)\b"
    r"|\b(?:present|accompanied\s+by|attended\s+by)\b[^.\n;]{0,12}?\b(?:caregiver|spouse|wife|husband|daughter|son|"
    r"mother|father|parent|family)\b")
_LEARNING = re.compile(
    r"(?i)(?:verbali[sz]e[sd]?|demonstrate[sd]?|showed)\s+(?:good\s+|full\s+|fair\s+)?understanding"
    r"|teach[-\s]?back|return\s+demonstrat\w+|able\s+to\s+(?:learn|follow\s+(?:multi|2|3|two|three)[-\s]step)"
    r"|(?:good|fair|poor|excellent|intact)\s+(?:learning\s+potential|rehab(?:ilitation)?\s+potential|carry[-\s]?over|"
    r"capacity\s+to\s+learn|learning)"
    r"|capacity\s+to\s+learn|learning\s+(?:potential|readiness|barriers?)|cognition\s+(?:intact|WFL|WNL)"
    r"|A\s*&\s*O\s*x\s*[34]|AOx[34]|alert\s+and\s+oriented")
_NAME = r"(?P<name>[A-Z][A-Za-z'\-]+\.?(?:\s+[A-Z]\.)?(?:\s+[A-Z][A-Za-z'\-]+){1,2})"
_SIGNED = re.compile(
    r"(?i:electronically\s+signed|e-?signed|digitally\s+signed|signed|signature|authenticated|/s/)"
    r"(?:\s+and\s+dated)?(?:\s+by)?\s*[:\-]?\s*" + _NAME + r"?")
_CRED_TOKEN = re.compile(r"\s*,?\s*(?P<c>[A-Za-z]{1,6}(?:[-/][A-Za-z]{1,4})?)\b")


def _credentials(text: str, start: int, lex: Lexicon) -> tuple[tuple[str, ...], int]:
    """Credentials written after a name ("Dana Whitlock, PT, DPT"), and where they end."""
    found: list[str] = []
    position = start
    while True:
        match = _CRED_TOKEN.match(text, position)
        if not match:
            break
        token = match.group("c")
        known = {c.upper(): c for c in lex.credentials | lex.degrees}
        if token.upper() not in known:
            break
        found.append(known[token.upper()])
        position = match.end()
    return tuple(found), position


_SIGN_LINE = re.compile(r"(?m)(?:^|(?<=[.;]\s))[ \t]*(?:--?|—|–)?[ \t]*" + _NAME + r"(?=\s*,)")


def _signature(text: str, lex: Lexicon) -> Signature | None:
    best: Signature | None = None
    for match in _SIGNED.finditer(text):
        name = match.group("name")
        end = match.end()
        credentials: tuple[str, ...] = ()
        if name:
            credentials, end = _credentials(text, match.end("name"), lex)
        best = Signature(text[match.start():end], match.start(), end, name, credentials)
    if best is not None and best.name is not None:
        return best
    # a closing line of a name and credentials, as many notes are signed: "Dana Whitlock, PT, DPT"
    tail_from = max(0, len(text) - 400)
    for match in _SIGN_LINE.finditer(text, tail_from):
        credentials, end = _credentials(text, match.end("name"), lex)
        if credentials:
            best = Signature(text[match.start("name"):end], match.start("name"), end, match.group("name"),
                             credentials)
    if best is None:
        # a closing line that is only a name ("Taylor Brooks"): signed, without credentials
        last = re.search(r"(?m)^[ \t]*(?:--?|—|–)?[ \t]*" + _NAME + r"[ \t]*\Z", text.rstrip())
        if last:
            best = Signature(last.group("name"), last.start("name"), last.end("name"), last.group("name"), ())
    return best


# ---- negation and context (ConText-style) -----------------------------------------------------------------------

# A trigger before a service negates it when no termination term stands between them and the gap is short
# (pre_words); a trigger after it ("gait training deferred") when it follows within post_words.
_PRE_NEGATION = re.compile(
    r"(?i)\b(?:declined|refused|deferred|held|omitted|skipped|cancel(?:l)?ed|not\s+(?:performed|done|completed|"
    r"provided|tolerated|attempted|addressed)|did\s+not\s+(?:perform|do|complete|tolerate|participate\s+in|receive)|"
    r"didn'?t\s+(?:perform|do|complete|tolerate)|unable\s+to\s+(?:perform|tolerate|complete|participate\s+in)|"
    r"no\s+time\s+for|not\s+able\s+to\s+(?:perform|tolerate)|without|no|not)\b")
_WEAK_PRE = {"no", "not", "without"}
_POST_NEGATION = re.compile(
    r"(?i)^[^.;\n]{0,40}?\b(?:declined|refused|deferred|held|omitted|not\s+(?:performed|done|completed|provided|"
    r"tolerated|attempted|today|indicated|needed|warranted|necessary)|was\s+not|were\s+not|d/c'?d|discontinued|"
    r"cancel(?:l)?ed)\b")
_HYPOTHETICAL = re.compile(
    r"(?i)\b(?:will|plan(?:s|ned)?\s+to|to\s+(?:begin|start|initiate|progress|add|continue)|next\s+(?:visit|session|"
    r"time|week|tx)|consider|may\s+(?:add|benefit)|recommend(?:ed)?|should|would\s+benefit|upcoming|future)\b")
_HISTORICAL = re.compile(r"(?i)\b(?:last\s+(?:visit|session|week|time|tx)|previous(?:ly)?\s+(?:visit|session)?|"
                         r"prior\s+(?:visit|session)|yesterday|at\s+home|home\s+program)\b")
_TERMINATION = re.compile(r"(?i)\b(?:but|however|although|though|then|instead|so|except)\b|,|\band\s+then\b|:")
_WORD = re.compile(r"[A-Za-z0-9']+")


def _negated(text: str, clause_start: int, mention_start: int, mention_end: int, clause_end: int) -> bool:
    before = text[clause_start:mention_start]
    for trigger in reversed(list(_PRE_NEGATION.finditer(before))):
        gap = before[trigger.end():]
        if _TERMINATION.search(gap):
            return False
        words = len(_WORD.findall(gap))
        weak = trigger.group(0).lower() in _WEAK_PRE
        return words <= (1 if weak else 6)
    after = text[mention_end:clause_end]
    cut = _TERMINATION.search(after)
    scope = after[:cut.start()] if cut else after
    return bool(_POST_NEGATION.search(scope))


def _context(text: str, clause_start: int, mention_start: int, mention_end: int, clause_end: int) -> str | None:
    """Why a mention is not a service furnished today, or None."""
    if _negated(text, clause_start, mention_start, mention_end, clause_end):
        return "declined"
    before = text[clause_start:mention_start]
    near = before[-60:]
    if _HYPOTHETICAL.search(near) and not _TERMINATION.search(near[_HYPOTHETICAL.search(near).end():]):  # type: ignore[union-attr]
        return "planned"
    after = text[mention_end:clause_end][:40]
    if re.match(r"(?i)^\s*(?:next\s+(?:visit|session|time|week)|to\s+be\s+(?:added|initiated|started)|as\s+tolerated"
                r"\s+next)", after):
        return "planned"
    if _HISTORICAL.search(near) and not _TERMINATION.search(near[_HISTORICAL.search(near).end():]):  # type: ignore[union-attr]
        return "history"
    return None


# ---- the reader --------------------------------------------------------------------------------------------------

_ASSISTANT_LABEL = r"(?:PTA|COTA(?:/L)?|OTA|SLPA|(?:therapy\s+|rehab\s+)?assistant)"
_ASSISTANT_CLAUSE = re.compile(
    rf"(?i)\b{_ASSISTANT_LABEL}\b\s*(?:[A-Z][a-z]+\s+)?(?:performed|provided|completed|led|did|delivered|"
    rf"instructed|treated|:|-)|\b(?:performed|provided|completed|delivered)\s+by\s+(?:the\s+)?{_ASSISTANT_LABEL}\b"
    rf"|^\s*{_ASSISTANT_LABEL}\b")
_ASSISTANT_AFTER = re.compile(
    rf"(?i)\s*\)?\s*(?:\(|,|-)?\s*(?:by|with|per|from|via)?\s*(?:the\s+)?{_ASSISTANT_LABEL}\b")
_GLUE_BEFORE = re.compile(r"(?i)^\s*(?:(?:of|for|on|in|doing|performing)\s+|[:\-–—]\s*|x\s*)?(?:the\s+)?$")
_GLUE_AFTER = re.compile(r"(?i)^\s*(?:[:=\-–—(@]|x|for|for\s+a\s+total\s+of|total(?:ing)?|was|were|performed|"
                         r"completed|provided|done|given|training|trng|ex(?:ercises?)?|\w+)?\s*(?:x|for|:)?\s*$")


@dataclass
class _Mention:
    entry: int
    start: int
    end: int
    amount: _Amount | None = None
    assistant: int = 0


_WORD_START = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9/]")


def _mentions(text: str, lex: Lexicon) -> list[_Mention]:
    found: list[_Mention] = []
    end = 0
    for word in _WORD_START.finditer(text):
        if word.start() < end:
            continue  # inside a name already found
        pattern = lex.by_first.get(word.group(0).lower())
        match = pattern.match(text, word.start()) if pattern is not None else None
        if match:
            found.append(_Mention(entry_of(match), match.start(), match.end()))
            end = match.end()
    found += [_Mention(entry_of(m), m.start(), m.end()) for m in lex.exact.finditer(text)]
    found.sort(key=lambda m: (m.start, -(m.end - m.start)))
    kept: list[_Mention] = []
    for mention in found:
        if kept and mention.start < kept[-1].end:
            continue  # overlaps a longer or earlier name
        kept.append(mention)
    return kept


def _same_service_once(mentions: list[_Mention], lex: Lexicon) -> list[_Mention]:
    """A clause that names one service twice ("MT 1 unit (GH joint mobs)") documents it once: a later mention of
    the same code without an amount of its own is the same service."""
    kept: list[_Mention] = []
    for mention in mentions:
        code = lex.entries[mention.entry].code
        if mention.amount is None and code is not None and any(lex.entries[k.entry].code == code for k in kept):
            continue
        kept.append(mention)
    return kept


def _bind(text: str, clause: tuple[int, int], mentions: list[_Mention], amounts: list[_Amount]) -> None:
    """Give each amount to the service it documents: the one right before it when that one has none yet
    ("TherEx 15 min"), else the one right after it when only glue stands between ("10:05-10:30 gait training",
    "23 min of TherEx"), else the one before it."""
    for amount in amounts:
        before = [m for m in mentions if m.end <= amount.start]
        after = [m for m in mentions if m.start >= amount.end]
        previous = before[-1] if before else None
        following = after[0] if after else None
        if previous is not None and previous.amount is not None and amount.minutes is not None \
                and _ASSISTANT_AFTER.match(text, amount.end, clause[1]):
            # "TE 20 min, 10 min by PTA": the assistant's part of the service before
            previous.assistant = min(amount.minutes, previous.amount.minutes or amount.minutes)
            continue
        if previous is not None and previous.amount is None \
                and _GLUE_AFTER.match(text[previous.end:amount.start]) \
                and len(text[previous.end:amount.start]) <= 30:
            previous.amount = amount
            continue
        if amount.weak:
            continue
        if following is not None and following.amount is None and _GLUE_BEFORE.match(text[amount.end:following.start]):
            following.amount = amount
            continue
        if previous is not None and previous.amount is None:
            previous.amount = amount


def read_note(text: str) -> NoteReading:
    """Read one note. Never raises on text: unreadable input is reported in ``problems``."""
    lex = lexicon()
    reading = NoteReading()
    body, problems, readable = _screen(text)
    reading.problems = problems
    if not readable:
        return reading
    sections = _sections(body)
    totals_spans = _read_totals(body, reading)
    mentions = _mentions(body, lex)
    amounts_all = [a for m in _MINUTES.finditer(body) if (a := _amount(m)) is not None
                   and not any(s.start <= a.start < s.end for s in totals_spans)]
    for clause_start, clause_end in _clauses(body):
        in_clause = [m for m in mentions if clause_start <= m.start < clause_end]
        if not in_clause:
            continue
        amounts = [a for a in amounts_all if clause_start <= a.start < clause_end]
        _bind(body, (clause_start, clause_end), in_clause, amounts)
        in_clause = _same_service_once(in_clause, lex)
        assistant_clause = bool(_ASSISTANT_CLAUSE.search(body, clause_start, clause_end))
        for mention in in_clause:
            _add(reading, text, body, lex, sections, mention, (clause_start, clause_end), assistant_clause)
    _read_group(body, reading)
    _read_goals(body, sections, reading)
    section_of = [(s, k) for s, k in sections]
    reading.adls = [Span(text[m.start():m.end()], m.start(), m.end()) for m in _ADL.finditer(body)
                    if _kind_at(section_of, m.start()) not in {"goals", "plan", "history"}]
    _read_caregiver(body, reading)
    learning = _LEARNING.search(body)
    if learning:
        reading.capacity_to_learn = Span(text[learning.start():learning.end()], learning.start(), learning.end())
    reading.signature = _signature(body, lex)
    return reading


def _add(reading: NoteReading, text: str, body: str, lex: Lexicon, sections: list[tuple[int, str]],
         mention: _Mention, clause: tuple[int, int], assistant_clause: bool) -> None:
    entry = lex.entries[mention.entry]
    amount = mention.amount
    start = min(mention.start, amount.start) if amount else mention.start
    end = max(mention.end, amount.end) if amount else mention.end
    span_text = text[start:end]
    kind = _kind_at(sections, mention.start)
    reason = _context(body, clause[0], mention.start, mention.end, clause[1])
    if reason is None and kind in {"plan", "history"}:
        reason = "planned" if kind == "plan" else "history"
    if reason is None and kind == "goals":
        return  # a service named in a goal ("Goal: ambulate 150 ft after gait training") is not a service today
    if reason is None and not entry.separate:
        reason = "not-separate"
    if reason is not None:
        reading.not_furnished.append(NotFurnished(entry.code, entry.name, reason, span_text, start, end))
        return
    minutes = amount.minutes if amount else None
    assistant = mention.assistant
    if assistant_clause and minutes is not None and not assistant:
        assistant = minutes
    reading.interventions.append(Intervention(
        code=entry.code, codes=entry.codes, name=entry.name, minutes=minutes,
        assistant_minutes=min(assistant, minutes) if minutes is not None else 0,
        units=amount.units if amount else None, text=span_text, start=start, end=end, group=entry.group))
    if entry.group:
        reading.one_on_one = False


def _read_totals(body: str, reading: NoteReading) -> list[Span]:
    spans: list[Span] = []
    for pattern, attribute in ((_TOTAL_TIMED, "total_timed_minutes"), (_TOTAL_TREATMENT, "total_treatment_minutes")):
        for match in pattern.finditer(body):
            if any(s.start <= match.start() < s.end for s in spans):
                continue
            # the rest of a "Total timed minutes: 38" clause ("38 min") belongs to the total, not to a service
            tail = re.match(rf"\s*{_MIN}", body[match.end():])
            end = match.end() + (tail.end() if tail else 0)
            spans.append(Span(body[match.start():end], match.start(), end))
            if getattr(reading, attribute) is None:
                setattr(reading, attribute, int(match.group("v") or match.group("v2")))
    reading.totals = spans
    return spans


def _number(value: str) -> int:
    return int(value) if value.isdigit() else _WORD_NUMBERS[value.lower()]


def _read_group(body: str, reading: NoteReading) -> None:
    match = _GROUP_SIZE.search(body)
    if match:
        raw = match.group("a") or match.group("b") or match.group("c")
        size = _number(raw)
        if size >= 2:
            reading.group_size = size
            reading.one_on_one = False
    if reading.one_on_one is None and _ONE_ON_ONE.search(body):
        reading.one_on_one = True
    if reading.one_on_one is None and re.search(r"(?i)\bgroup\b", body) and reading.group_size:
        reading.one_on_one = False


def _read_goals(body: str, sections: list[tuple[int, str]], reading: NoteReading) -> None:
    found: dict[int, Span] = {}
    for match in _GOAL.finditer(body):
        goal = match.group("g").strip()
        if goal:
            start = match.start("g") + (len(match.group("g")) - len(match.group("g").lstrip()))
            found[start] = Span(goal, start, start + len(goal))
    # the lines under a Goals heading are goals even without "goal:" on each
    for index, (start, kind) in enumerate(sections):
        if kind != "goals":
            continue
        end = sections[index + 1][0] if index + 1 < len(sections) else len(body)
        heading_end = body.find("\n", start)
        if heading_end == -1 or heading_end >= end:
            continue
        for line in _GOAL_LINE.finditer(body, heading_end + 1, end):
            goal = line.group("g").strip()
            begin = line.start("g")
            if not any(s.start <= begin < s.end or begin <= s.start < begin + len(goal) for s in found.values()):
                found[begin] = Span(goal, begin, begin + len(goal))
    reading.goals = [found[k] for k in sorted(found)]


def _read_caregiver(body: str, reading: NoteReading) -> None:
    for match in _CAREGIVER.finditer(body):
        before = body[max(0, match.start() - 12):match.start()].lower()
        negated = bool(re.search(r"\bno\s*$|\bnot\s*$|\bwithout\s*$", before)) or bool(
            re.search(r"(?i)\bnot\s+present\b", match.group(0)))
        reading.caregiver_present = not negated
        if not negated:
            return
