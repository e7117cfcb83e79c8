"""The kinds of CMS reference table, apart from their parsers: ``cleanclaim data import --kind`` offers them as
choices, and typer builds every command's options when the CLI starts, so this module must not import Polars (the
parsers in `cms_files` do); `cleanclaim --help` would otherwise pay for it."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["RefTable"]


class RefTable(StrEnum):
    PTP = "ptp"
    MUE = "mue"
    RVU = "rvu"
    GPCI = "gpci"
    LOCALITY = "locality"

    @property
    def label(self) -> str:
        return {
            "ptp": "NCCI PTP edits (practitioner)",
            "mue": "NCCI MUE values (practitioner)",
            "rvu": "PFS relative values (PPRRVU)",
            "gpci": "GPCIs",
            "locality": "Medicare localities (LOCCO)",
        }[self.value]
