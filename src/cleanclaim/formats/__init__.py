"""Claim documents in and out: X12 837P/835, FHIR R4 Claim, CMS-1500 and superbill PDFs, CSV and Parquet."""
