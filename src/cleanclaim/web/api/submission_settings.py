"""``/api/v1/submission-settings``: the organisation's 837P envelope (sender and receiver ids, receiver name,
submitter and its contact, test or production), read by any role and set by an admin, over
``store.submissions.save_submission_settings`` (the same rules as the Submission settings page; a refusal is a 422
naming the field). The interchange control number is the store's counter: read here, never set."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cleanclaim.lifecycle import Role
from cleanclaim.store import models as m
from cleanclaim.store.envelope import max_length, settings_input, unwritable
from cleanclaim.store.submissions import save_submission_settings, submission_settings
from cleanclaim.web.api.service import RequestBody, act, require_role
from cleanclaim.web.context import Context
from cleanclaim.web.errors import AppError

router = APIRouter(tags=["submission settings"])
ADMIN = frozenset({Role.ADMIN})


def _text(field: str, *, required: bool = True) -> object:
    return Field(min_length=1 if required else 0, max_length=max_length(field))


class SubmissionSettingsIn(RequestBody):
    sender_id: Annotated[str, _text("sender_id")]
    """ISA06 / GS02: the id the clearinghouse assigned the organisation."""
    receiver_id: Annotated[str, _text("receiver_id")]
    """ISA08 / GS03: the clearinghouse's (or payer's) id."""
    receiver_name: Annotated[str, _text("receiver_name")]
    """1000B NM103."""
    submitter_name: Annotated[str, _text("submitter_name")]
    """1000A NM103."""
    submitter_contact: Annotated[str, _text("submitter_contact")]
    """1000A PER02: the person to call or write."""
    submitter_phone: Annotated[str | None, _text("submitter_phone", required=False)] = None
    submitter_email: Annotated[str | None, _text("submitter_email", required=False)] = None
    """A phone or an email (or both) is required."""
    usage: Literal["T", "P"] = "T"
    """ISA15: T test, P production."""


class SubmissionSettingsOut(BaseModel):
    sender_id: str
    receiver_id: str
    receiver_name: str
    submitter_name: str
    submitter_contact: str
    submitter_phone: str | None
    submitter_email: str | None
    usage: Literal["T", "P"]
    next_control_number: int
    """The ISA13 (and GS06) of the next batch; advanced by each submission, never set through the API."""


def _out(settings: m.SubmissionSettings) -> SubmissionSettingsOut:
    return SubmissionSettingsOut(
        sender_id=settings.sender_id, receiver_id=settings.receiver_id, receiver_name=settings.receiver_name,
        submitter_name=settings.submitter_name, submitter_contact=settings.submitter_contact,
        submitter_phone=settings.submitter_phone, submitter_email=settings.submitter_email,
        usage="P" if settings.usage == "P" else "T", next_control_number=settings.next_control_number)


@router.get("/submission-settings", response_model=SubmissionSettingsOut)
def get_settings(ctx: Context) -> SubmissionSettingsOut:
    """The organisation's 837P envelope; 404 while an admin has not set it (no batch can be submitted then)."""
    settings = submission_settings(ctx.tenant)
    if settings is None:
        raise AppError(404, "the organisation has no submission settings yet: an admin sets them with "
                            "PUT /api/v1/submission-settings")
    return _out(settings)


@router.put("/submission-settings", response_model=SubmissionSettingsOut)
def put_settings(ctx: Context, payload: SubmissionSettingsIn) -> SubmissionSettingsOut:
    """Set the 837P envelope (admins only; audited with before and after). The control number counter is kept;
    the next batch's 837P carries the new envelope. A value the 837P writer would refuse (an ISA06/ISA08 id not of
    letters, digits, space, '.', '_', '-'; an X12 separator or non-ASCII character in a name, contact or email) is
    a 422 naming the field, as is a missing phone and email."""
    given = settings_input(payload.model_dump(exclude={"usage"}), production=payload.usage == "P")
    require_role(ctx, ADMIN, "Changing the submission settings")
    refused = unwritable(given)
    if refused:
        raise AppError(422, "; ".join(f"{name}: {problem}" for name, problem in refused.items()),
                       code="invalid_input", details={"field": next(iter(refused))})
    return _out(act(ctx, ADMIN, "Changing the submission settings", save_submission_settings, given))
