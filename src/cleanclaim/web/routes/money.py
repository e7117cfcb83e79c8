"""Who may see and work the money pages (submissions, remittances, denials): billers and admins work them; an
auditor reads them (the context refuses an auditor's every change); a clinician enters encounters and has no part in
the billing office's money."""

from __future__ import annotations

from typing import Annotated

from cleanclaim.lifecycle import WORKS_CLAIMS, Role
from cleanclaim.web.context import RequestContext, require

READS_MONEY = (*sorted(WORKS_CLAIMS), Role.AUDITOR)
Reader = Annotated[RequestContext, require(*READS_MONEY)]
Worker = Annotated[RequestContext, require(*sorted(WORKS_CLAIMS))]
