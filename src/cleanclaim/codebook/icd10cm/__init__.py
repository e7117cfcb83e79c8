"""ICD-10-CM code tables bundled with cleanclaim (data only; the loader is :mod:`cleanclaim.diagnoses`).

Each release is a ``<stem>.tsv.gz`` (code without the dot, billable flag, title) with a
``<stem>.meta.json`` sidecar naming its source, CMS release, fiscal year, validity window, licence and
build date. The files are built by ``scripts/build_icd10cm_table.py``; never edit them by hand.
"""
