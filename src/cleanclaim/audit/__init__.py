"""Batch audits: many files of claims checked at once by the one rule engine (`run`), the providers whose billing
stands out from their peers (`providers`), and a self-contained HTML report of both (`report`)."""

from cleanclaim.audit.run import AuditResult, audit

__all__ = ["AuditResult", "audit"]
