"""CMS reference data: NCCI PTP edits, MUE values, PFS relative values, GPCIs and conversion factors.

A bundled subset (``bundled/``, each file naming its source and release) makes everything work offline; the official
CMS files a user imports with ``cleanclaim data import`` take precedence for the periods they cover. Nothing is ever
downloaded.
"""

from __future__ import annotations

from cleanclaim.refdata.cms_files import ParsedTable, RefTable, parse_path, period_bounds
from cleanclaim.refdata.imported import CorruptImportError, ImportResult, StoredTable, import_files, stored_tables
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
