"""Encounter services (what was documented) to claim lines (what to bill), with a plain-words reason for every decision.

The payer profile decides the time rule (CMS 8-minute rule or per-code), whether therapy and assistant modifiers are
used and whether Medicare's own G-codes replace CPT codes. A service may name a family's base code (96158, 99406,
99401, 99408, 0592T ...): the coder picks the family member and units the documented minutes support, and says so
with a finding when that differs from what was named or when the time supports nothing billable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from cleanclaim.codebook import CodeBook, CodeEntry, LookupStatus, TimeRule, codebook
from cleanclaim.model import (
    ASSISTANT_MODIFIER_BY_THERAPY_MODIFIER,
    THERAPY_MODIFIER_BY_DISCIPLINE,
    ClaimLine,
    Encounter,
    Finding,
    FurnishedBy,
    Service,
    Severity,
)
from cleanclaim.payers import PayerProfile
from cleanclaim.rules.registry import get_rule
from cleanclaim.timing import (
    UnitAllocation,
    allocate_cms,
    allocate_per_code,
    at_least_units,
    base_addon_units,
    midpoint_units,
    split_assistant_units,
)

__all__ = ["CodedEncounter", "code_encounter", "code_encounters"]

Locate = Callable[[str], str | None]
MAX_POINTERS = 4  # CMS-1500 item 24E and 837P SV107 carry at most four diagnosis pointers per line


@dataclass
class CodedEncounter:
    """The lines to bill for one encounter, the findings about them and the reasoning in plain words."""

    encounter: Encounter
    lines: list[ClaimLine]
    findings: list[Finding] = field(default_factory=list)
    explanation: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.encounter.id


@dataclass
class _Resolved:
    """A documented service after code-book resolution (deleted codes replaced, Medicare equivalents applied)."""

    index: int
    service: Service
    entry: CodeEntry

    @property
    def group(self) -> str:
        # Codes chosen by time within a family share one pool of minutes; a base code pools with its add-on.
        if self.entry.time_rule is TimeRule.RANGE:
            return f"family:{self.entry.family}"
        return self.entry.code

    @property
    def assistant_minutes(self) -> int:
        if self.service.assistant_minutes is not None:
            return self.service.assistant_minutes
        if self.service.furnished_by is FurnishedBy.ASSISTANT:
            return self.service.minutes or 0
        return 0


class _Coder:
    def __init__(self, encounter: Encounter, profile: PayerProfile, book: CodeBook, locate: Locate) -> None:
        self.encounter = encounter
        self.profile = profile
        self.book = book
        self.locate = locate
        self.findings: list[Finding] = []
        self.explanation: list[str] = []
        self.services_added: list[Service] = []
        self.services_moved: list[Service] = []

    # ---- findings ------------------------------------------------------------------------------------------------
    def _where(self, index: int, field_name: str = "code") -> str:
        place = self.locate(f"services.{index}.{field_name}") or self.locate(f"services.{index}")
        return f" (service {index + 1}{', ' + place if place else ''})"

    def _finding(self, slug: str, code: str | None, message: str, fix: str,
                 severity: Severity | None = None) -> None:
        self.findings.append(get_rule(slug).finding(encounter=self.encounter.id, code=code, message=message,
                                                    fix=fix, severity=severity))

    # ---- step 1: resolve codes -----------------------------------------------------------------------------------
    def resolve(self, index: int, service: Service) -> _Resolved | None:
        date = self.encounter.date
        lookup = self.book.lookup(service.code, date)
        where = self._where(index)
        if lookup.status is LookupStatus.INVALID_FORMAT:
            self._finding("invalid-code-format", service.code,
                          f"{service.code} is not a valid procedure code format{where}",
                          "Correct the code: 5 digits (97110), 4 digits + F/T/U (0592T), "
                          "or a letter + 4 digits (G0447).")
            return None
        if lookup.status is LookupStatus.UNKNOWN:
            self._finding("unknown-code", service.code,
                          f"{service.code} is not in cleanclaim's code book, so it cannot be coded{where}",
                          "Check the code, or bill it by hand and run `cleanclaim check` on the lines.",
                          Severity.ERROR)
            return None
        entry = lookup.entry
        assert entry is not None
        if lookup.status is LookupStatus.NOT_YET_EFFECTIVE:
            self._finding("code-not-yet-effective", service.code,
                          f"{service.code} takes effect on {entry.effective}; not valid on {date}{where}",
                          "Check the date of service, or use the code in force on that date.")
            return None
        if lookup.status is LookupStatus.DELETED:
            replacement = self._replacement(entry)
            replaced = " + ".join(entry.replaced_by) or "no direct replacement"
            if replacement is None:
                self._finding("deleted-code", service.code,
                              f"{service.code} was deleted on {entry.deleted}; not valid on {date}{where}",
                              "Choose the current code that describes the service.")
                return None
            # Info, not a warning: the coder changed the code it was given and the lines produced are valid; whether the
            # provider may bill the replacement is the scrub's provider-not-eligible finding on those lines.
            self._finding("deleted-code", service.code,
                          f"{service.code} was deleted on {entry.deleted} and is not valid on {date}; "
                          f"its replacement is {replaced}{where}",
                          f"Coded as {replacement.code} ({replacement.summary}). Check that the provider may bill it.",
                          Severity.INFO)
            self.explanation.append(f"{service.code} was deleted on {entry.deleted}: coded as its replacement "
                                    f"{replaced} from the documented minutes.")
            entry = replacement
        if entry.time_rule is TimeRule.ADDON and entry.base_code:
            base = self.book.get(entry.base_code, date)
            if base is not None:
                self.explanation.append(f"{entry.code} is an add-on to {base.code}: its units come from the total "
                                        f"time documented for {base.code}.")
                entry = base
        if self.profile.use_medicare_codes and entry.medicare_code:
            medicare = self.book.get(entry.medicare_code, date)
            if medicare is not None:
                self._finding("medicare-uses-g-code", entry.code,
                              f"{self.profile.name} pays {medicare.code} instead of {entry.code}{where}",
                              f"Coded as {medicare.code} ({medicare.summary}).", Severity.INFO)
                self.explanation.append(f"{self.profile.name} uses {medicare.code} for {entry.code}'s service.")
                entry = medicare
        return _Resolved(index, service, entry)

    def _replacement(self, entry: CodeEntry) -> CodeEntry | None:
        for code in entry.replaced_by:
            found = self.book.get(code, self.encounter.date)
            if found is not None:
                return found
        return None

    # ---- step 2: codes and units by time rule --------------------------------------------------------------------
    def units_for_group(self, members: list[_Resolved], minutes: int | None) -> list[tuple[CodeEntry, int]]:
        entry = members[0].entry
        named = entry.code
        where = self._where(members[0].index, "minutes")
        rule = entry.time_rule
        if rule is TimeRule.UNTIMED:
            self.explanation.append(f"{named} is untimed: 1 unit for the day"
                                    + (f" (minutes documented: {minutes})." if minutes else "."))
            return [(entry, 1)]
        if minutes is None:
            if entry.time_optional:
                self.explanation.append(f"{named}: no minutes documented; the level rests on medical decision making.")
                return [(entry, 1)]
            self._finding("missing-minutes", named,
                          f"{named} is time-based ({entry.minutes_text()}) but no minutes are documented{where}",
                          f"Document the direct minutes of {named}; nothing is billed for it until then.",
                          Severity.ERROR)
            return []
        if rule is TimeRule.RANGE:
            return self._pick_in_range(entry, minutes, where)
        if rule in (TimeRule.AT_LEAST, TimeRule.TYPICAL):
            required = entry.min_minutes or 0
            if at_least_units(minutes, required) == 0:
                self._below_minimum(entry, minutes, required, where)
                return []
            self.explanation.append(f"{named}: {minutes} min meets its minimum of {required} → 1 unit.")
            return [(entry, 1)]
        if rule is TimeRule.BASE:
            base_units, addon_units = base_addon_units(minutes, entry.typical_minutes or 0, entry.min_minutes or 0,
                                                       self._addon_unit_minutes(entry))
            if base_units == 0:
                self._below_minimum(entry, minutes, entry.min_minutes or 0, where)
                return []
            result = [(entry, 1)]
            text = (f"{named}: {minutes} min → {named} × 1 "
                    f"(first {entry.typical_minutes} min, needs {entry.min_minutes})")
            addon = self.book.get(entry.addon_code, self.encounter.date) if entry.addon_code else None
            if addon is not None and addon_units:
                result.append((addon, addon_units))
                text += (f" + {addon.code} × {addon_units} ({minutes - (entry.typical_minutes or 0)} min beyond "
                         f"{entry.typical_minutes}; each {addon.unit_minutes}-min unit needs more than half)")
            self.explanation.append(text + ".")
            return result
        if rule is TimeRule.PER_UNIT:
            unit = entry.unit_minutes or 15
            units = midpoint_units(minutes, unit)
            if units == 0:
                self._below_minimum(entry, minutes, unit // 2 + 1, where)
                return []
            self.explanation.append(f"{named}: {minutes} min → {units} unit{'s' if units != 1 else ''} "
                                    f"of {unit} min (a unit counts once more than half of it is reached).")
            return [(entry, units)]
        raise AssertionError(f"time rule {rule} is allocated with the day's timed codes")

    def _addon_unit_minutes(self, entry: CodeEntry) -> int:
        addon = self.book.get(entry.addon_code, self.encounter.date) if entry.addon_code else None
        return addon.unit_minutes if addon is not None and addon.unit_minutes else 15

    def _below_minimum(self, entry: CodeEntry, minutes: int, required: int, where: str) -> None:
        self._finding("below-minimum-time", entry.code,
                      f"{entry.code} needs at least {required} minutes; {minutes} minutes are documented "
                      f"(time rule: {entry.minutes_text()}){where}",
                      f"Not billable as {entry.code}; bill it only if the record supports {required} minutes or more.",
                      Severity.INFO)  # nothing is billed for it, so the claim holds no error; the user learns why
        self.explanation.append(f"{entry.code}: {minutes} min is below its minimum of {required}: not billed.")

    def _pick_in_range(self, entry: CodeEntry, minutes: int, where: str) -> list[tuple[CodeEntry, int]]:
        members = [m for m in self.book.family(entry.family, self.encounter.date) if m.time_rule is TimeRule.RANGE]
        fits = [m for m in members if (m.min_minutes or 0) <= minutes
                and (m.max_minutes is None or minutes <= m.max_minutes)]
        ranges = "; ".join(f"{m.code} {m.minutes_text()}" for m in members)
        if entry.time_optional:
            if fits and fits[0].code != entry.code:
                self._finding("time-range-mismatch", entry.code,
                              f"{entry.code} was named, but {minutes} minutes support {fits[0].code} if the level is "
                              f"chosen by time{where}",
                              f"Keep {entry.code} only if medical decision making supports it; otherwise bill "
                              f"{fits[0].code}.", Severity.WARNING)
            self.explanation.append(f"{entry.code}: level kept as named ({minutes} min documented; {ranges}).")
            return [(entry, 1)]
        if not fits:
            lowest = min((m.min_minutes or 0) for m in members) if members else entry.min_minutes or 0
            self._below_minimum(entry, minutes, lowest, where)
            return []
        chosen = fits[0]
        if chosen.code != entry.code:
            self._finding("time-range-mismatch", entry.code,
                          f"{entry.code} was named, but {minutes} minutes fall in {chosen.code}'s range "
                          f"({chosen.minutes_text()}){where}",
                          f"Coded as {chosen.code}. Bill {entry.code} only if the record shows its time.",
                          Severity.INFO)  # the coder's notice that it changed the code named: the line is right
        self.explanation.append(f"{chosen.code}: {minutes} min → {chosen.code} × 1 ({ranges}).")
        return [(chosen, 1)]

    def allocate_timed(self, pool: dict[str, int]) -> UnitAllocation:
        allocation = allocate_cms(pool) if self.profile.time_rule == "cms" else allocate_per_code(pool)
        self.explanation.extend(allocation.explanation)
        if allocation.total_units == 0:
            for code, minutes in pool.items():
                self._finding("below-minimum-time", code,
                              f"{code} for {minutes} minutes is under the 8 minutes a 15-minute unit needs "
                              f"({self.profile.time_rule_label})",
                              "Not billable; its minutes may count toward other timed codes on the same day.",
                              Severity.INFO)
        return allocation

    # ---- step 3: modifiers ---------------------------------------------------------------------------------------
    def therapy_modifier(self, entry: CodeEntry) -> str | None:
        discipline = self.encounter.provider.discipline
        from_discipline = THERAPY_MODIFIER_BY_DISCIPLINE.get(discipline)
        needed = entry.always_therapy or (entry.therapy == "sometimes" and from_discipline is not None)
        if not needed or not entry.therapy_modifiers:
            return None
        if from_discipline in entry.therapy_modifiers:
            return from_discipline
        if len(entry.therapy_modifiers) == 1:
            return entry.therapy_modifiers[0]
        if self.profile.therapy_modifiers == "required":
            self._finding("missing-therapy-modifier", entry.code,
                          f"{entry.code} is always therapy and needs GP, GO or GN, but a {discipline.value} provider "
                          f"does not tell which plan of care it belongs to",
                          "Add GP (physical therapy plan), GO (occupational) or GN (speech-language) to the line.")
        return None

    def lines_for(self, entry: CodeEntry, units: int, minutes: int | None, assistant_minutes: int,
                  extra_modifiers: list[str]) -> list[ClaimLine]:
        modifiers: list[str] = []
        therapy = self.therapy_modifier(entry)
        if therapy:
            modifiers.append(therapy)
        assistant_modifier = ASSISTANT_MODIFIER_BY_THERAPY_MODIFIER.get(therapy or "")
        split_units = (units, 0)
        if assistant_minutes and self.profile.assistant_modifiers:
            if assistant_modifier is None:
                self.explanation.append(f"{entry.code}: assistant minutes noted, but there is no assistant modifier "
                                        f"for {therapy or 'this service'} (CQ/CO exist for PT and OT only).")
            else:
                split = split_assistant_units(
                    units, minutes or 0, min(assistant_minutes, minutes or 0),
                    unit_minutes=15 if entry.time_rule is TimeRule.TIMED15 else (
                        entry.unit_minutes if entry.time_rule is TimeRule.PER_UNIT else None),
                    code=entry.code, modifier=assistant_modifier)
                self.explanation.extend(split.explanation)
                split_units = (split.units_by_therapist, split.units_with_assistant)
        telehealth = self.profile.telehealth
        if (self.encounter.place_of_service in telehealth.places_of_service and telehealth.modifier_required
                and not any(m in telehealth.modifiers for m in extra_modifiers)):
            extra_modifiers = [*extra_modifiers, telehealth.modifiers[0]]
            self.explanation.append(f"{entry.code}: POS {self.encounter.place_of_service} is telehealth; "
                                    f"{self.profile.name} wants modifier {telehealth.modifiers[0]}.")
        pointers = list(range(1, min(MAX_POINTERS, len(self.encounter.diagnoses)) + 1))
        result: list[ClaimLine] = []
        first = True
        for count, assistant in ((split_units[0], False), (split_units[1], True)):
            if count == 0:
                continue
            line_modifiers = [*modifiers, *([assistant_modifier] if assistant and assistant_modifier else [])]
            line_modifiers += [m for m in extra_modifiers if m not in line_modifiers]
            result.append(ClaimLine(code=entry.code, modifiers=line_modifiers, units=Decimal(count),
                                    minutes=minutes if first else None, dx_pointers=pointers))
            first = False
        return result

    # ---- the whole encounter -------------------------------------------------------------------------------------
    def plan(self) -> None:
        """Resolve and group the services; untimed families get their units now, 15-minute timed codes wait in
        ``timed_pool`` for the day's allocation (which may pool other same-day encounters, see `code_encounters`)."""
        resolved = [r for i, s in enumerate(self.encounter.services) if (r := self.resolve(i, s)) is not None]
        groups: dict[str, list[_Resolved]] = {}
        for item in resolved:
            groups.setdefault(item.group, []).append(item)

        self.planned: list[tuple[CodeEntry, int, int | None, int, list[str]]] = []
        self.timed_pool: dict[str, int] = {}
        self.timed_members: dict[str, list[_Resolved]] = {}
        for members in groups.values():
            documented = [m.service.minutes for m in members if m.service.minutes is not None]
            minutes = sum(documented) if documented else None
            if len(members) > 1:
                self.explanation.append(
                    f"{len(members)} services of {members[0].entry.code} on this date are one line: "
                    f"{' + '.join(str(d) for d in documented) or 'no'} min.")
            entry = members[0].entry
            extra = _union(m.service.modifiers for m in members)
            assistant = sum(m.assistant_minutes for m in members)
            if entry.time_rule is TimeRule.TIMED15:
                if minutes is None:
                    self.units_for_group(members, None)
                    continue
                self.timed_pool[entry.code] = minutes
                self.timed_members[entry.code] = members
                continue
            for chosen, units in self.units_for_group(members, minutes):
                is_base = chosen.code == entry.code or chosen.time_rule is not TimeRule.ADDON
                self.planned.append((chosen, units, minutes if is_base else None, assistant if is_base else 0,
                                     extra))

    def take_timed(self, other: _Coder) -> None:
        """Bill another same-day encounter's timed services on this one: CMS counts a patient's timed minutes per
        day and discipline, and a code is billed once for the day with all its units. The services move with their
        minutes, so the claim's documentation matches its lines."""
        moved: list[Service] = []
        for code, minutes in other.timed_pool.items():
            self.timed_pool[code] = self.timed_pool.get(code, 0) + minutes
            self.timed_members.setdefault(code, []).extend(other.timed_members[code])
            moved.extend(member.service for member in other.timed_members[code])
        self.services_added.extend(moved)
        other.services_moved.extend(moved)
        shown = ", ".join(f"{code} {minutes} min" for code, minutes in other.timed_pool.items())
        self.explanation.append(
            f"Encounter {other.encounter.id} is the same patient, date, provider, place and diagnoses: its timed "
            f"minutes ({shown}) are counted here too ({self.profile.time_rule_label}, one day's timed minutes "
            f"together) and any units they support are billed on this claim.")
        other.explanation.append(
            f"Timed services ({shown}) are counted with encounter {self.encounter.id} (same patient, date, provider, "
            f"place and diagnoses; the {self.profile.time_rule_label} counts one day's timed minutes together): "
            f"any units they support are billed there, not here.")
        other.timed_pool, other.timed_members = {}, {}

    def finish(self) -> CodedEncounter:
        planned = list(self.planned)
        if self.timed_pool:
            allocation = self.allocate_timed(self.timed_pool)
            for code, units in allocation.units.items():
                if units:
                    members = self.timed_members[code]
                    planned.append((members[0].entry, units, self.timed_pool[code],
                                    sum(m.assistant_minutes for m in members),
                                    _union(m.service.modifiers for m in members)))

        lines: list[ClaimLine] = []
        for entry, units, minutes, assistant, extra in planned:
            lines.extend(self.lines_for(entry, units, minutes, assistant, extra))
        if lines and self.encounter.diagnoses:
            count = min(MAX_POINTERS, len(self.encounter.diagnoses))
            self.explanation.append(
                f"Diagnosis pointers 1–{count} in diagnosis order on every line"
                + (f" (at most {MAX_POINTERS} per line)." if len(self.encounter.diagnoses) > MAX_POINTERS else "."))
        update: dict[str, object] = {"lines": lines}
        if self.services_added or self.services_moved:
            kept = [s for s in self.encounter.services if not any(s is moved for moved in self.services_moved)]
            update["services"] = [*kept, *self.services_added]
        coded = self.encounter.model_copy(update=update)
        return CodedEncounter(coded, lines, self.findings, self.explanation)

    def run(self) -> CodedEncounter:
        self.plan()
        return self.finish()

    @property
    def day(self) -> tuple[object, ...] | None:
        """What makes two encounters one billing day whose timed minutes are counted together (CMS rule only;
        per-code payers count each code on its own): the patient, date, discipline and payer, and the same claim
        around them (billing and rendering provider, place of service, diagnoses), so a service never moves onto
        another practice's claim, another place or diagnoses it was not for."""
        if self.profile.time_rule != "cms" or not self.timed_pool:
            return None
        e = self.encounter
        billing = e.billing_provider
        return (e.patient.id, e.date, e.provider.discipline.value, e.payer, e.provider.npi, e.place_of_service,
                tuple(e.diagnoses), billing.npi if billing else None, billing.tax_id if billing else None)


def _union(lists: Iterable[list[str]]) -> list[str]:
    merged: list[str] = []
    for modifiers in lists:
        for modifier in modifiers:
            if modifier not in merged:
                merged.append(modifier)
    return merged


def code_encounter(encounter: Encounter, profile: PayerProfile, *, book: CodeBook | None = None,
                   locate: Locate | None = None) -> CodedEncounter:
    """Code one encounter's services into claim lines under the payer profile's rules."""
    return _Coder(encounter, profile, book or codebook(), locate or (lambda _path: None)).run()


def code_encounters(items: Iterable[tuple[Encounter, PayerProfile, Locate | None]], *,
                    book: CodeBook | None = None) -> list[CodedEncounter]:
    """Code a batch. Under the CMS 8-minute rule, encounters of one patient on one date in one discipline (a morning
    and an afternoon session) have their 15-minute timed minutes counted together and billed on the first of them,
    as the scrub counts them (`units-exceed-time` pools the same way); everything else is coded per encounter."""
    chosen = book or codebook()
    coders = [_Coder(encounter, profile, chosen, locate or (lambda _path: None))
              for encounter, profile, locate in items]
    leads: dict[tuple[object, ...], _Coder] = {}
    for coder in coders:
        coder.plan()
        day = coder.day
        if day is None:
            continue
        if day in leads:
            leads[day].take_timed(coder)
        else:
            leads[day] = coder
    return [coder.finish() for coder in coders]
