"""The rule registry: every rule is registered once, and the docs, `cleanclaim rules`, `cleanclaim rule SLUG`, the
JSON findings and the web pages are all generated from that one object (the model is ruff's rule registry).

A rule is a small declarative class: ``id``, ``slug``, ``family``, default ``severity``, a ``message`` and a ``fix``
template over the columns of the rows it flags, ``references``, a docstring with fixed headings, and a ``check``
function from tables to flagged rows. The same ``check`` runs on one claim and on a month of claims.
"""

from __future__ import annotations

import re
import string
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import polars as pl

from cleanclaim.model import Finding, Severity

if TYPE_CHECKING:
    from cleanclaim.rules.tables import Tables

__all__ = [
    "CANNOT_FIRE",
    "DOC_HEADINGS",
    "NO_ROWS",
    "Rule",
    "RuleDoc",
    "Screen",
    "all_rules",
    "get_rule",
    "readable_template",
    "register",
]

DOC_HEADINGS = ("What it checks", "Why it matters", "Example", "Use instead", "References")
_ID = re.compile(r"^CC\d{3,4}$")  # CC101-CC999, and four digits for the notes family (CC1001 ...)
_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class RuleDoc:
    """The rule's docstring split at its headings."""

    summary: str
    sections: dict[str, str]


@dataclass(frozen=True)
class Screen:
    """A necessary condition for a rule to flag anything: if neither expression is true (or null) on any row, the
    rule cannot fire and the engine does not run it.

    Why: on one claim a rule's plan costs 0.3-2.5 ms whatever it finds, while a screen is one aggregate in a
    ``select`` the engine evaluates for every rule at once (about 15 microseconds each). Most claims are clean, so
    most rules can be ruled out that way. A screen must never be stricter than the rule: a row the rule would flag
    must make the screen true (``tests/rules/test_screens.py`` checks it on every rule case). A null counts as true.

    ``lines`` is evaluated on the claim lines with their code-book entry and their payer's settings
    (``tables.screen_lines``); ``encounters`` on the encounters with their payer's settings
    (``tables.screen_encounters``). Their columns are those of ``LINE_SCHEMA`` / ``ENCOUNTER_SCHEMA``, the code-book
    frame and the payer frame.
    """

    lines: pl.Expr | None = None
    encounters: pl.Expr | None = None


CANNOT_FIRE = Screen(lines=pl.lit(False), encounters=pl.lit(False))
"""The screen of a rule that knows, from the tables alone (a setting, an empty history), that it cannot fire."""


class Rule(ABC):
    """Base class of all rules. Subclasses set the class attributes and implement ``check``.

    ``check`` returns a Polars LazyFrame (or DataFrame) with one row per problem and at least the columns
    ``encounter_id``, ``line`` (1-based line number or null for an encounter-level problem) and ``code`` (or null),
    plus every field the message and fix templates name. Optional columns ``severity``, ``message``, ``fix`` and
    ``references`` override the defaults row by row.
    """

    id: ClassVar[str]
    slug: ClassVar[str]
    family: ClassVar[str]
    severity: ClassVar[Severity]
    message: ClassVar[str]
    fix: ClassVar[str]
    references: ClassVar[tuple[str, ...]] = ()
    screen: ClassVar[Screen | None] = None
    """A cheap necessary condition for the rule to fire (see :class:`Screen`); None: the rule always runs."""
    reads_tables: ClassVar[bool] = True
    """False for a rule about the input file itself (its X12 syntax): it finds nothing in the tables, the file's
    reader reports its findings, and its cases are that format's tests, not tests/rules/cases."""

    def screen_for(self, tables: Tables) -> Screen | None:
        """The rule's screen for these tables. Override when it depends on them (the as-of date, the payers'
        settings, the history); the default is the class's ``screen``."""
        return self.screen

    @abstractmethod
    def check(self, tables: Tables) -> pl.DataFrame | pl.LazyFrame:
        """Rows that break the rule. A ``LazyFrame`` is preferred: the engine collects every rule's plan in one
        ``pl.collect_all``, which on a single claim costs a fraction of running each operation eagerly."""

    def rows(self, tables: Tables) -> pl.DataFrame:
        """``check`` collected on its own (for tests and per-rule timings; the engine collects all rules at once)."""
        from cleanclaim.rules.tables import collect

        result = self.check(tables)
        return collect(result) if isinstance(result, pl.LazyFrame) else result

    # ---- documentation -------------------------------------------------------------------------------------------
    @classmethod
    def doc(cls) -> RuleDoc:
        text = _dedent(cls.__doc__ or "")
        summary, _, rest = text.partition("\n\n")
        sections: dict[str, str] = {}
        current: str | None = None
        buffer: list[str] = []
        for line in rest.splitlines():
            heading = line.strip().rstrip(":")
            if heading in DOC_HEADINGS and line.strip().endswith(":"):
                if current:
                    sections[current] = "\n".join(buffer).strip()
                current, buffer = heading, []
            else:
                buffer.append(line)
        if current:
            sections[current] = "\n".join(buffer).strip()
        return RuleDoc(summary.strip(), sections)

    @classmethod
    def template_fields(cls) -> set[str]:
        fields: set[str] = set()
        for template in (cls.message, cls.fix):
            fields.update(name for _, name, _, _ in string.Formatter().parse(template) if name)
        return fields

    # ---- findings --------------------------------------------------------------------------------------------------
    @classmethod
    def finding(
        cls,
        *,
        encounter: str | None,
        message: str,
        fix: str,
        line: int | None = None,
        code: str | None = None,
        severity: Severity | None = None,
        references: list[str] | None = None,
    ) -> Finding:
        """A finding under this rule with texts written by the caller (the coder explains its own decisions); the
        rule's templates are filled from flagged rows by the engine (`engine.finding_frame`)."""
        return Finding(
            rule=cls.slug,
            id=cls.id,
            severity=severity or cls.severity,
            encounter=encounter,
            line=line,
            code=code,
            message=message,
            fix=fix,
            references=list(references) if references else list(cls.references),
        )


NO_ROWS = pl.DataFrame(schema={"encounter_id": pl.String, "line": pl.Int32, "code": pl.String})
"""What a rule returns when a look at one column shows it cannot fire (microseconds, where its plan costs about a
millisecond on every claim)."""

_REGISTRY: dict[str, Rule] = {}


def register(cls: type[Rule]) -> type[Rule]:
    """Class decorator: checks the rule's declaration once, at import, and adds one instance to the registry."""
    for attribute in ("id", "slug", "family", "severity", "message", "fix"):
        if not hasattr(cls, attribute):
            raise TypeError(f"rule {cls.__name__} does not set {attribute}")
    if not _ID.match(cls.id) or not _SLUG.match(cls.slug):
        raise TypeError(f"rule {cls.__name__}: id must look like CC123 or CC1001 and slug like kebab-case")
    for other in _REGISTRY.values():
        if other.id == cls.id or other.slug == cls.slug:
            raise TypeError(f"rule {cls.__name__} reuses id or slug of {type(other).__name__}")
    missing = [h for h in DOC_HEADINGS if h not in cls.doc().sections]
    if missing:
        raise TypeError(f"rule {cls.slug}: docstring lacks the headings {missing}")
    _REGISTRY[cls.slug] = cls()
    return cls


def all_rules() -> list[Rule]:
    """Every registered rule, in id order."""
    _load_catalogue()
    return sorted(_REGISTRY.values(), key=lambda r: (len(r.id), r.id))  # CC999 before CC1001


def get_rule(slug_or_id: str) -> Rule:
    _load_catalogue()
    wanted = slug_or_id.strip()
    if wanted in _REGISTRY:
        return _REGISTRY[wanted]
    for rule in _REGISTRY.values():
        if rule.id == wanted.upper():
            return rule
    raise KeyError(wanted)


def _load_catalogue() -> None:
    # Importing the catalogue package registers every rule family module; the x12 family lives beside the X12
    # reader it describes.
    import cleanclaim.formats.x12_validation
    import cleanclaim.rules.catalogue  # noqa: F401


def readable_template(template: str) -> str:
    """A message or fix template for people: ``{code} was deleted on {last_deleted}`` becomes ``‹code› was deleted
    on ‹last deleted›`` (the words in angle quotes are filled in from the flagged claim)."""
    return re.sub(r"\{(\w+)\}", lambda m: "‹" + m.group(1).replace("_", " ") + "›", template)


def _dedent(text: str) -> str:
    lines = text.expandtabs().splitlines()
    if not lines:
        return ""
    indents = [len(line) - len(line.lstrip()) for line in lines[1:] if line.strip()]
    margin = min(indents) if indents else 0
    return "\n".join([lines[0].strip(), *(line[margin:] for line in lines[1:])])
