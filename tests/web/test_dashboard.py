"""The dashboard's figures and charts, and the bar geometry they are drawn with."""

from __future__ import annotations

import re
from decimal import Decimal

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from cleanclaim.lifecycle import Role
from cleanclaim.web.charts import BAR_SPACE, bar_chart
from tests.formats.x12.conftest import BASE_ENCOUNTER
from tests.web.conftest import Org, sign_in
from tests.web.workspace import DELETED_CODE_LINE, build


def test_bars_are_proportional_to_the_largest_value() -> None:
    chart = bar_chart("t", [("a", Decimal(200), "$200", None), ("b", Decimal(100), "$100", "/x"),
                            ("c", Decimal(0), "$0", None)])
    assert [bar.width for bar in chart.bars] == [BAR_SPACE, BAR_SPACE // 2, 0]
    assert [bar.y for bar in chart.bars] == [0, chart.row_height, 2 * chart.row_height]
    assert chart.bars[1].href == "/x"


def test_a_chart_of_zeros_or_nothing_draws_no_bar() -> None:
    zeros = bar_chart("t", [("a", 0, "0", None), ("b", 0, "0", None)])
    assert [bar.width for bar in zeros.bars] == [0, 0]
    empty = bar_chart("t", [], empty="No denials posted.")
    assert empty.bars == [] and empty.empty == "No denials posted."


def test_a_tiny_value_still_shows_and_long_labels_are_cut() -> None:
    chart = bar_chart("t", [("x" * 40, Decimal(100000), "big", None), ("small", Decimal(1), "1", None)], limit=1)
    assert len(chart.bars) == 1 and chart.bars[0].label.endswith("…") and len(chart.bars[0].label) <= 24
    tiny = bar_chart("t", [("big", Decimal(100000), "big", None), ("small", Decimal(1), "1", None)])
    assert tiny.bars[1].width == 2  # visible, though less than a pixel in proportion


def test_dashboard_shows_the_workspaces_figures(app: FastAPI, engine: Engine, org: Org) -> None:
    build(engine, org)
    denied_total = sum(Decimal(str(line["charge"])) for line in BASE_ENCOUNTER["lines"])
    for role in Role:
        with TestClient(app, follow_redirects=False) as client:
            sign_in(client, org.email(role))
            page = client.get("/")
            assert page.status_code == 200, role
            text = page.text
            assert text.count("<svg") == 4
            # the denied claim (CARC 50 on every line) in both denial charts, with its whole charge
            assert f"${denied_total:,.2f} · 1 claim" in text
            carc = text.split("Denied dollars by reason", 1)[1].split("</figure>", 1)[0]
            assert re.search(r">50 ", carc)
            # the flagged claim's charge is held back by its standing error finding
            assert f"${Decimal(str(DELETED_CODE_LINE['charge'])):,.2f}" in text.split("Dollars at risk")[1][:400]
            assert "1 unsubmitted claim held" in text
            # two claims were scrubbed for the first time; the flagged one had an error, so at most one is clean
            assert re.search(r"[01] of 2 claims had no error on their first scrub", text)


def test_dashboard_of_an_empty_organisation(client: TestClient, org: Org) -> None:
    sign_in(client, org.email(Role.BILLER))
    page = client.get("/")
    assert page.status_code == 200
    assert "No denials posted." in page.text and "No claims yet." in page.text
    assert "0 of 0 claims" in page.text


def test_dashboard_needs_sign_in(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 303 and response.headers["location"].startswith("/sign-in")
