"""The chat in a real browser: a six-turn conversation through a did-you-mean, a follow-up, a
what-if and a reset (Gradio app on uvicorn, Debian's Chromium through Playwright). Budget < 60 s
after the session's `tiny_service` is built."""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest
from fastapi import FastAPI
from playwright import sync_api

from assistant.chat import CatalogMatcher, ChatAgent
from assistant.facts import format_money
from assistant.web.app import CSS, build_ui
from tests.conftest import live_server

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def two_products(tiny_service) -> list[str]:
    t = tiny_service.products
    return list(t[t["price"].notna()].sort_index()["product_id"][:2])


@pytest.fixture(scope="module")
def url(tiny_service, two_products):
    # Two catalog products under near-identical names: "acme widget pro" must ask which one.
    matcher = CatalogMatcher(two_products, ["Acme Widget Pro 450 Blue", "Acme Widget Pro 450 Red"])
    agent = ChatAgent(tiny_service, matcher=matcher)
    app = gr.mount_gradio_app(FastAPI(), build_ui(tiny_service, agent=agent), path="/ui", ssr_mode=False, css=CSS)
    with live_server(app, "uvicorn-chat-browser") as base:
        yield base + "/ui/"


def _say(page, text: str, expect: str) -> str:
    bots = page.locator("#chat [data-testid='bot']")
    n = bots.count()
    page.locator("#chat-input textarea").fill(text)
    page.locator("#chat-send").click()
    bot = bots.nth(n)
    bot.get_by_text(expect).first.wait_for()
    text, deadline = bot.inner_text(), 0
    while deadline < 20:           # replies stream line by line: wait until this one stops growing
        page.wait_for_timeout(250)
        now = bot.inner_text()
        if now == text:
            break
        text, deadline = now, deadline + 1
    return text


def test_six_turns_did_you_mean_what_if_reset(url, tiny_service, two_products):
    assert CHROMIUM.exists(), "the browser tests need Debian's chromium at /usr/bin/chromium"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        page = browser.new_page()
        page.set_default_timeout(30_000)
        page.goto(url)
        page.locator("#chat-input textarea").wait_for()

        r = _say(page, "what should I charge for an acme widget pro? my cost is 10", "Did you mean")
        assert "Acme Widget Pro 450 Blue" in r and "Acme Widget Pro 450 Red" in r
        r = _say(page, "the second one", "I suggest")
        assert two_products[1] in r                   # the pick, priced with the cost given first
        r = _say(page, "why?", "Why")
        assert "moved" in r or "no single factor" in r
        cur = tiny_service.products.loc[two_products[1], "currency"]
        r = _say(page, "what if I charge 1,299?", "At " + format_money(1299, cur))
        assert format_money(1289, cur) in r          # 1,299 − the unit cost of 10, per unit
        _say(page, "reset", "Cleared")
        _say(page, "why?", "Ask me about a product first")     # the reset cleared the product
        browser.close()
