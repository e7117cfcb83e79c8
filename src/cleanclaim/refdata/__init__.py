"""CMS reference data: NCCI PTP edits, MUE values, PFS relative values, GPCIs and conversion factors.

A bundled subset (``bundled/``, each file naming its source and release) makes everything work offline; the official
CMS files a user imports with ``cleanclaim data import`` take precedence for the periods they cover. Nothing is ever
downloaded.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

# Where each public name lives. The CLI imports this package for `data import --kind` (a RefTable) while it builds
# its options, before any command runs; the parsers and lookups import Polars, so they load on first use (PEP 562),
# as in `cleanclaim/__init__`, and `cleanclaim --help` does not wait for them.
_HOMES = {
    "RefTable": "cleanclaim.refdata.kinds",
    "ParsedTable": "cleanclaim.refdata.cms_files",
    "parse_path": "cleanclaim.refdata.cms_files",
    "period_bounds": "cleanclaim.refdata.cms_files",
    "CorruptImportError": "cleanclaim.refdata.imported",
    "ImportResult": "cleanclaim.refdata.imported",
    "StoredTable": "cleanclaim.refdata.imported",
    "import_files": "cleanclaim.refdata.imported",
    "stored_tables": "cleanclaim.refdata.imported",
    **dict.fromkeys(
        ("ConversionFactor", "CostSharingWaiver", "TableStatus", "by_date_of_service", "conversion_factor",
         "conversion_factor_entry", "cost_sharing_waived", "cost_sharing_waiver", "gpci", "mue_values",
         "parse_locality", "place_of_service_setting", "ptp_edits", "rvus", "status"),
        "cleanclaim.refdata.lookups"),
}


def __getattr__(name: str) -> Any:
    """A public name, imported from its module the first time it is asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names with the public ones not imported yet, so ``dir()`` and completion list them."""
    return sorted({*globals(), *__all__})
