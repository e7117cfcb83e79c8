"""Write claims in every output format from one entry point: X12 837P, FHIR R4 Claim (Bundle), CMS-1500 and
superbill PDFs. Encounters that have documented services but no billed lines are coded first, and a practice
charge master fills charges the lines lack, so `cleanclaim export` works straight from an encounter file.

What reaches the disk follows three rules, the same for every format:

- A batch with one bad claim still writes the others: a claim that lacks what the format needs is left out and
  reported (``ExportResult.errors``). When no claim can be written, no file is written at all (an empty bundle or
  folder would read as "done").
- A file appears whole or not at all: it is written to a temporary file beside the target and renamed over it, so
  a full disk or a crash never leaves half a claim file where the old one was.
- The file the user names with ``-o`` is replaced if it exists (as ``cp`` and ``curl -o`` do). Several PDFs go
  into a folder, one file per claim named after its claim id: a file of that name already in the folder is
  replaced, every other file is left alone, and two claim ids that make the same file name get distinct names
  (``-2``, ``-3``, ...), so no claim's PDF overwrites another's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cleanclaim.errors import InputError
from cleanclaim.formats.files import cannot_write, write_file
from cleanclaim.model import Encounter
from cleanclaim.pricing import ChargeMaster, line_charge

__all__ = ["FORMATS", "ExportFormat", "ExportResult", "Written", "X12Options", "export_encounters",
           "pdf_file_names", "with_charges", "write_file"]

ExportFormat = Literal["837p", "fhir", "cms1500", "superbill"]
FORMATS: tuple[ExportFormat, ...] = ("837p", "fhir", "cms1500", "superbill")
# Longest claim-id part of a PDF file name: file systems cap a name at 255 bytes, and a name this long is unreadable.
_MAX_STEM = 100


@dataclass(frozen=True)
class X12Options:
    """Envelope values for the 837P; unset ones come from the first claim (billing NPI, payer id, names)."""

    sender_id: str | None = None
    receiver_id: str | None = None
    receiver_name: str | None = None
    submitter_name: str | None = None
    submitter_contact: str | None = None
    submitter_phone: str | None = None
    control_number: int = 1
    production: bool = False


@dataclass(frozen=True)
class Written:
    """One file written and the encounters whose claims it holds, so the user can tell which file is which."""

    path: Path
    encounters: tuple[Encounter, ...]

    def describe(self) -> str:
        if len(self.encounters) == 1:
            encounter = self.encounters[0]
            claim = f"claim {encounter.claim_id}, " if encounter.claim_id else ""
            return f"{self.path} ({claim}encounter {encounter.id})"
        return f"{self.path} ({len(self.encounters)} claims)"


@dataclass
class ExportResult:
    """The files written, and one error per encounter left out because its claim cannot be written."""

    written: list[Written] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)


def with_charges(encounter: Encounter, charge_master: ChargeMaster | None) -> Encounter:
    """The encounter with missing line charges filled from the charge master (per unit x units); others kept."""
    if not charge_master:
        return encounter
    lines = [line.model_copy(update={"charge": line_charge(line, charge_master)[0]}) for line in encounter.lines]
    return encounter.model_copy(update={"lines": lines})


def pdf_file_names(encounters: Sequence[Encounter], fmt: str) -> list[str]:
    """One file name per encounter, from its claim id (else its id) kept to ASCII letters, digits, ``-`` and ``_``.

    Ids that differ only in other characters or in case (``CLM/1``, ``CLM_1``, ``clm_1``) would make one name and
    overwrite each other (on a case-insensitive file system too): later ones get ``-2``, ``-3``, ... in input
    order, and no name is ever given twice.
    """
    used: set[str] = set()
    names = []
    for encounter in encounters:
        stem = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "_"
                       for ch in (encounter.claim_id or encounter.id))[:_MAX_STEM]
        name, number = f"{stem}-{fmt}.pdf", 2
        while name.casefold() in used:
            name, number = f"{stem}-{number}-{fmt}.pdf", number + 1
        used.add(name.casefold())
        names.append(name)
    return names


def _check_file_target(path: Path, what: str) -> None:
    """Refuse a target that can never take a file before any claim is rendered."""
    if path.is_dir():
        raise cannot_write(path, f"it is a folder; give a file name for the {what}")
    parent = path.parent
    if not parent.exists():
        raise cannot_write(path, f"the folder {parent} does not exist; create it first")
    if not parent.is_dir():
        raise cannot_write(path, f"{parent} is not a folder")


def export_encounters(encounters: Sequence[Encounter], fmt: ExportFormat, out: Path, *,
                      x12: X12Options | None = None, now: dt.datetime | None = None) -> ExportResult:
    """Write the encounters (with billed lines) in ``fmt``: 837P and FHIR as one file, PDFs one file per encounter
    (``out`` is a folder, or a ``.pdf`` file name when there is one claim).

    Raises :class:`InputError` naming the path when ``out`` cannot take the output, and when no claim can be
    written (listing every claim's reasons); then nothing is written. Otherwise the claims that cannot be written
    are in the result's ``errors`` and the others are written.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt in ("cms1500", "superbill"):
        return _export_pdfs(encounters, fmt, out)
    _check_file_target(out, "837P file" if fmt == "837p" else "FHIR bundle")
    if fmt == "837p":
        content, used, errors = _x12_content(encounters, x12 or X12Options(), now)
    else:
        content, used, errors = _fhir_content(encounters)
    if content is None:
        raise _nothing_written(fmt, errors, out)
    write_file(out, content)
    return ExportResult([Written(out, tuple(used))], errors)


def _nothing_written(fmt: str, errors: Sequence[InputError], out: Path) -> InputError:
    reasons = "; ".join(str(error) for error in errors) or "no encounter was left to write"
    return InputError(f"nothing written: no claim could be written as {fmt} ({reasons})", file=str(out))


def _fhir_content(encounters: Sequence[Encounter]) -> tuple[bytes | None, list[Encounter], list[InputError]]:
    from cleanclaim.formats.fhir import bundle_of_writable

    bundle, errors = bundle_of_writable(encounters)
    if bundle is None:
        return None, [], errors
    left_out = {error.encounter for error in errors}
    used = [encounter for encounter in encounters if encounter.id not in left_out]
    return bundle.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8"), used, errors


def _x12_content(encounters: Sequence[Encounter], options: X12Options, now: dt.datetime | None,
                 ) -> tuple[bytes | None, list[Encounter], list[InputError]]:
    """The 837P of every claim that can be written: a claim the writer refuses is left out and the rest retried.

    A problem that is not one claim's (the envelope: sender, receiver, submitter) stops the whole file.
    """
    from cleanclaim.formats.x12_837p import ClaimFileError, Submitter, write_837p

    remaining = list(encounters)
    errors: list[InputError] = []
    while remaining:
        first = remaining[0]
        billing = first.billing_provider
        try:
            text = write_837p(
                remaining,
                sender_id=options.sender_id or (billing.npi if billing else ""),
                receiver_id=options.receiver_id or first.payer_id or "",
                receiver_name=options.receiver_name or first.payer_display,
                submitter=Submitter(
                    name=options.submitter_name or (billing.name if billing else ""),
                    contact_name=options.submitter_contact or (billing.name if billing else ""),
                    phone=options.submitter_phone or (billing.phone if billing else None),
                ),
                interchange_control_number=options.control_number,
                group_control_number=options.control_number,
                usage="P" if options.production else "T",
                now=now,
            )
        except ClaimFileError as exc:
            ids = {encounter.id for encounter in remaining}
            if not exc.problems or not set(exc.problems) <= ids:
                raise
            errors += [InputError(f"cannot write the 837P claim: {'; '.join(fields)}", encounter=encounter,
                                  field=", ".join(problem.split(" ")[0] for problem in fields))
                       for encounter, fields in exc.problems.items()]
            remaining = [encounter for encounter in remaining if encounter.id not in exc.problems]
            continue
        return text.encode("ascii"), remaining, errors
    return None, [], errors


def _export_pdfs(encounters: Sequence[Encounter], fmt: Literal["cms1500", "superbill"], out: Path) -> ExportResult:
    import io

    from cleanclaim.formats.pdf_cms1500 import render_cms1500
    from cleanclaim.formats.pdf_superbill import render_superbill

    render: Callable[[Encounter, io.BytesIO], None] = render_cms1500 if fmt == "cms1500" else render_superbill
    one_file = out.suffix.lower() == ".pdf" and not out.is_dir()
    if one_file:
        _check_file_target(out, "PDF")
    elif out.exists() and not out.is_dir():
        raise cannot_write(out, "it is a file; several PDFs need a folder (or a name ending in .pdf for one claim)")
    elif not out.parent.is_dir():
        raise cannot_write(out, f"the folder {out.parent} does not exist; create it first")
    rendered: list[tuple[Encounter, bytes]] = []
    errors: list[InputError] = []
    for encounter in encounters:
        buffer = io.BytesIO()
        try:
            render(encounter, buffer)
        except InputError as exc:
            errors.append(exc)
            continue
        rendered.append((encounter, buffer.getvalue()))
    if not rendered:
        raise _nothing_written(fmt, errors, out)
    if one_file:
        if len(rendered) > 1:
            raise cannot_write(out, f"{len(rendered)} claims need {len(rendered)} PDFs; give a folder instead of "
                                     "a .pdf file name")
        write_file(out, rendered[0][1])
        return ExportResult([Written(out, (rendered[0][0],))], errors)
    try:
        out.mkdir(exist_ok=True)
    except OSError as exc:
        raise cannot_write(out, exc.strerror or str(exc)) from exc
    written = []
    names = pdf_file_names([encounter for encounter, _ in rendered], fmt)
    for (encounter, content), name in zip(rendered, names, strict=True):
        try:
            write_file(out / name, content)
        except InputError as exc:  # a full disk: the PDFs already written stay, each whole, and are listed
            errors.append(InputError(exc.message, file=exc.file, encounter=encounter.id))
            continue
        written.append(Written(out / name, (encounter,)))
    return ExportResult(written, errors)
