"""The rule catalogue pages, generated from the rule objects."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cleanclaim.rules import all_rules, get_rule


def test_list_shows_every_rule(admin_client: tuple[TestClient, str]) -> None:
    client, _ = admin_client
    page = client.get("/rules").text
    for rule in all_rules():
        assert f'href="/rules/{rule.slug}"' in page
    assert f"{len(all_rules())} rules" in page


def test_search_as_htmx_returns_the_table_only(admin_client: tuple[TestClient, str]) -> None:
    client, _ = admin_client
    response = client.get("/rules", params={"q": "CC103"}, headers={"HX-Request": "true"})
    assert "<html" not in response.text
    assert "1 rule<" in response.text and 'href="/rules/deleted-code"' in response.text
    nothing = client.get("/rules", params={"q": "zzzz-no-such"}, headers={"HX-Request": "true"})
    assert "No rule matches" in nothing.text
    errors_only = client.get("/rules", params={"severity": "warning"}).text
    assert 'href="/rules/deleted-code"' not in errors_only


def test_rule_page(admin_client: tuple[TestClient, str]) -> None:
    client, _ = admin_client
    page = client.get("/rules/deleted-code").text
    rule = get_rule("deleted-code")
    for heading in ("What it checks", "Why it matters", "Example", "Use instead", "References"):
        assert f"<h2>{heading}</h2>" in page
    assert "‹code› was deleted on ‹last deleted›" in page
    for reference in rule.references:
        assert reference in page
    assert "seed-article-96152-for-coaching" in page and "replacement-96158" in page


def test_unknown_rule_is_a_404_page(admin_client: tuple[TestClient, str]) -> None:
    client, _ = admin_client
    response = client.get("/rules/no-such-rule")
    assert response.status_code == 404
    assert "There is no rule" in response.text and "<html" in response.text


def test_every_navigation_target_is_a_real_page(admin_client: tuple[TestClient, str]) -> None:
    """Every slice has replaced its "coming next" placeholder: each link of the navigation opens a built page."""
    from cleanclaim.web.templating import NAVIGATION

    client, _ = admin_client
    for item in NAVIGATION:
        response = client.get(item.path)
        assert response.status_code == 200, item.path
        assert "Coming next" not in response.text, item.path
