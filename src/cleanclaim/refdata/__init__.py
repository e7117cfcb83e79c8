"""CMS reference data: NCCI PTP edits, MUE values, PFS relative values, GPCIs and conversion factors.

A bundled subset (``bundled/``, each file naming its source and release) makes everything work offline; the official
CMS files a user imports with ``cleanclaim data import`` take precedence for the periods they cover. Nothing is ever
downloaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cleanclaim.exports import lazy_exports

if TYPE_CHECKING:
    from cleanclaim.refdata.cms_files import ParsedTable, parse_path, period_bounds
    from cleanclaim.refdata.imported import (
        CorruptImportError,
        ImportResult,
        StoredTable,
        import_files,
        stored_tables,
    )
    from cleanclaim.refdata.kinds import RefTable
    from cleanclaim.refdata.lookups import (
        ConversionFactor,
        CostSharingWaiver,
        TableStatus,
        by_date_of_service,
        conversion_factor,
        conversion_factor_entry,
        cost_sharing_waived,
        cost_sharing_waiver,
        gpci,
        mue_values,
        parse_locality,
        place_of_service_setting,
        ptp_edits,
        rvus,
        status,
    )

__all__ = [
    "ConversionFactor",
    "CorruptImportError",
    "CostSharingWaiver",
    "ImportResult",
    "ParsedTable",
    "RefTable",
    "StoredTable",
    "TableStatus",
    "by_date_of_service",
    "conversion_factor",
    "conversion_factor_entry",
    "cost_sharing_waived",
    "cost_sharing_waiver",
    "gpci",
    "import_files",
    "mue_values",
    "parse_locality",
    "parse_path",
    "period_bounds",
    "place_of_service_setting",
    "ptp_edits",
    "rvus",
    "status",
    "stored_tables",
]

# Where each public name lives. Importing any submodule (`cleanclaim.refdata.kinds` for the CLI's `data import --kind`,
# while typer builds its options) runs this file first; the parsers and lookups import Polars, so they load on first
# use (`cleanclaim.exports`) and `cleanclaim --help` does not wait for them. The same modules and names as the
# TYPE_CHECKING imports above (tests/test_startup_imports.py holds them so).
_HOMES = {
    "cleanclaim.refdata.kinds": ("RefTable",),
    "cleanclaim.refdata.cms_files": ("ParsedTable", "parse_path", "period_bounds"),
    "cleanclaim.refdata.imported": ("CorruptImportError", "ImportResult", "StoredTable", "import_files",
                                    "stored_tables"),
    "cleanclaim.refdata.lookups": ("ConversionFactor", "CostSharingWaiver", "TableStatus", "by_date_of_service",
                                   "conversion_factor", "conversion_factor_entry", "cost_sharing_waived",
                                   "cost_sharing_waiver", "gpci", "mue_values", "parse_locality",
                                   "place_of_service_setting", "ptp_edits", "rvus", "status"),
}

if not TYPE_CHECKING:  # mypy reads the imports above; a `__getattr__` it saw would make every misspelling `Any`
    __getattr__, __dir__ = lazy_exports(__name__, globals(), _HOMES)
