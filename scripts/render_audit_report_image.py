"""Render the README's picture of the audit report: docs/images/audit-report.png (its top: totals, the reconciliation
and the findings by rule).

    python scripts/render_audit_report_image.py          # the synthetic audit folder the report tests use
    python scripts/render_audit_report_image.py DIR      # a folder `cleanclaim audit ... --out DIR` wrote

Needs the dev extra (playwright) and Debian's chromium (/usr/bin/chromium); run from the repository root.
"""

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.audit.dirs import demo_audit_dir
from tests.audit.test_report_browser import CHROMIUM, CHROMIUM_ARGS

from cleanclaim.audit.report import write_report

target = Path("docs/images/audit-report.png")
with tempfile.TemporaryDirectory() as tmp:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tmp)
    if len(sys.argv) == 1:
        demo_audit_dir(folder)
    page_path = write_report(folder)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 1500})
        page.goto(page_path.resolve().as_uri(), wait_until="load")
        page.screenshot(path=str(target))
        browser.close()
print(target)
