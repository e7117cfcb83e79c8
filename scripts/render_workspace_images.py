"""Render the README's pictures of the workspace from the demo data: docs/images/dashboard.png and
docs/images/claim.png (a denied claim: its findings, remittance, denial follow-up, buttons and audit trail).

    python scripts/render_workspace_images.py

A fresh SQLite database in a temporary folder is first-started as `cleanclaim serve` does (the demo workspace,
generated passwords), served on a free local port and photographed in Debian's chromium (/usr/bin/chromium).
Needs the dev extra (playwright); run from the repository root.
"""

import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.audit.test_report_browser import CHROMIUM, CHROMIUM_ARGS

from cleanclaim.store import models as m
from cleanclaim.store.database import make_engine, migrate, session_factory
from cleanclaim.web import WebSettings, create_app
from cleanclaim.web.start import DEMO_ADMIN_EMAIL, first_start

IMAGES = Path("docs/images")

with tempfile.TemporaryDirectory() as tmp:
    engine = make_engine(f"sqlite:///{Path(tmp) / 'workspace.db'}")
    migrate(engine)
    factory = session_factory(engine)
    created = first_start(factory)
    assert created is not None
    with factory() as session:
        claim_id = session.scalars(select(m.ClaimVersion.claim_id).where(
            m.ClaimVersion.state == "denied", m.ClaimVersion.is_current.is_(True)).order_by(m.ClaimVersion.id)).first()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(engine, settings=WebSettings()), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(f"{base}/sign-in")
        page.fill("#email", DEMO_ADMIN_EMAIL)
        page.fill("#password", created.password)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        page.goto(f"{base}/")
        page.screenshot(path=IMAGES / "dashboard.png", full_page=True)
        page.goto(f"{base}/claims/{claim_id}")
        page.screenshot(path=IMAGES / "claim.png", full_page=True)
        browser.close()
    server.should_exit = True
    engine.dispose()
print(f"wrote {IMAGES / 'dashboard.png'} and {IMAGES / 'claim.png'} (claim {claim_id})")
