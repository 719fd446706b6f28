"""The merchant UI in a real browser: the Gradio app mounted on the REST API, served by uvicorn
on a free port, driven by Debian's Chromium (headless) through Playwright. Writes nothing in
the tree (the docs' screenshots come from ``make screenshots``). Budget: < 90 s.

Run alone: ``.venv/bin/pytest -q tests/test_ui.py -s`` (-s prints the chat reply timings).
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright import sync_api

from assistant.facts import format_money
from assistant.web.workspace_tab import demand_panel, workspace_inputs
from tests.conftest import live_server

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def service(tiny_service, demo_demand, tmp_path_factory):
    """The tiny model with data/demo's sales history (demand what-ifs) and its own store."""
    from assistant.service import PricingService
    from assistant.suggestion_store import SuggestionStore

    store = SuggestionStore(tmp_path_factory.mktemp("ui") / "suggestions.sqlite")
    return PricingService(tiny_service.graph, tiny_service.predictor, store, demand=demo_demand)


# ----------------------------------------------------------------------------- form validation (no browser)

def test_form_errors_name_the_field():
    _, _, errors = workspace_inputs("", None, None, None, -5, 0, "INR", None, 0, 0, 0, "none")
    assert errors == ["Title: required — describe the product you want to price.",
                      "Unit cost: must be 0 or more, got -5."]
    _, _, errors = workspace_inputs("Kettle", None, None, None, 10, 0, "INR", -1, 0, 0, 150, "none")
    assert errors == ["Minimum margin: must be 0 or more, got -1.", "Maximum change: at most 100 %, got 150."]
    _, _, errors = workspace_inputs("Kettle", None, None, None, None, None, "XXX", None, None, None,
                                    None, "none")
    assert errors and errors[0].startswith("Currency:")
    product, policy, errors = workspace_inputs(" Kettle ", "", "Home > Kitchen", "", 10, 0, "GBP", 20,
                                               0, 0, 15, ".99")
    assert errors == [] and product.title == "Kettle" and product.price is None   # 0 = not given
    assert (policy.min_margin, policy.max_change, policy.ceiling, policy.ending) == (0.2, 0.15, None, ".99")


def _sales_id(service) -> str:
    est = service.demand.model_.estimates_
    return sorted(p for p, e in est.items() if p in service.products.index
                  and e.source == "product" and e.high < -1)[0]


def test_demand_panel_plots_sales_products_and_explains_the_rest(service):
    from assistant.suggestion import SuggestOptions

    pid = _sales_id(service)
    s = service.suggest(pid, SuggestOptions(explain=False, k_comparables=0), store=False)
    fig, note = demand_panel(service, s, candidate=s.recommended_price * 1.5, cost=1.0)
    assert f"Demand what-if** for `{pid}`" in note and "price elasticity" in note
    at = service.what_if(pid, s.recommended_price * 1.5, cost=1.0)     # the what-if's numbers
    assert (f"At {format_money(at.price, s.currency)}: about {at.units:,.1f} units per month "
            f"({at.units_low:,.1f} to {at.units_high:,.1f}), profit {format_money(at.profit, s.currency)}"
            in note)
    top, bottom = fig.axes
    marks = {round(line.get_xdata()[0], 2) for line in top.lines if len(set(line.get_xdata())) == 1}
    assert marks == {round(s.current_price, 2), s.recommended_price,
                     round(s.recommended_price * 1.5, 2)}
    xs = next(line for line in bottom.lines if line.get_label() == "expected profit").get_xdata()
    assert xs[0] <= min(marks) and xs[-1] >= max(marks)     # the curve spans every marked price
    other = next(p for p in service.products.index if not service.demand.has_sales(p))
    s = service.suggest(other, SuggestOptions(explain=False, k_comparables=0), store=False)
    assert demand_panel(service, s) == (
        None, f"**Demand what-if:** not available for `{other}` — no sales history for this product.")
    s.product_id = None
    fig, note = demand_panel(service, s)
    assert fig is None and "give a catalog *Product id*" in note


# ----------------------------------------------------------------------------- browser fixtures


@pytest.fixture(scope="module")
def server(service):
    from assistant.http.app import ApiSettings, create_app
    from assistant.web.app import mount

    app = create_app(service, ApiSettings(auth_disabled=True))
    mount(app, service, "/ui")
    with live_server(app, "uvicorn-ui-test") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():   # a failure, not a skip: `make test` installs it
        pytest.fail("needs Debian's chromium at /usr/bin/chromium (bash scripts/test-setup.sh)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def open_page(browser, server):
    """open_page() -> a page on the UI in a fresh browser context (its own Gradio session)."""
    contexts, outside = [], []

    def make():
        ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        # Offline app: every request must stay on our server (no CDN fonts, no analytics).
        page.on("request", lambda r: outside.append(r.url)
                if not r.url.startswith((server, "data:", "blob:")) else None)
        page.goto(server + "/ui/")
        page.locator("#chat-input textarea").wait_for()
        return page

    yield make
    for ctx in contexts:
        ctx.close()
    assert outside == [], f"requests left the server: {outside[:5]}"


@pytest.fixture(scope="module")
def product(service) -> dict:
    t = service.products
    t = t[t["price"].notna() & (t["title"].str.split().str.len() >= 5)]
    t = t[~t["title"].duplicated(keep=False)].sort_index()
    row = t.iloc[len(t) // 3]
    return {"id": row["product_id"], "title": row["title"], "currency": row["currency"],
            "category": row["category_path"], "price": float(row["price"])}


def _bot_text(page, i: int = -1) -> str:
    bots = page.locator("#chat [data-testid='bot']")
    return bots.nth(bots.count() + i if i < 0 else i).inner_text()


def _ask(page, text: str, expect: str) -> tuple[float, float]:
    """Send a chat message and wait for a reply containing `expect`.

    Returns (seconds to the first reply text, seconds to the reply containing `expect`).
    """
    n = page.locator("#chat [data-testid='bot']").count()
    page.locator("#chat-input textarea").fill(text)
    t0 = time.perf_counter()
    page.locator("#chat-send").click()
    page.locator("#chat [data-testid='bot']").nth(n).wait_for()
    first = time.perf_counter() - t0
    bot = page.locator("#chat [data-testid='bot']").nth(n)
    bot.get_by_text(expect).first.wait_for()
    done = time.perf_counter() - t0
    # the reply streams line by line: wait until it stops growing
    text, deadline = bot.inner_text(), time.monotonic() + 10
    while time.monotonic() < deadline:
        page.wait_for_timeout(300)
        now = bot.inner_text()
        if now == text:
            break
        text = now
    return first, done


# ----------------------------------------------------------------------------- browser tests

def test_chat_prices_answers_follow_ups_and_takes_feedback(open_page, service, product):
    page = open_page()
    first, full = _ask(page, f"what should I charge for {product['title']}? my cost is 100", "I suggest")
    print(f"\nchat, time to first reply text {first:.2f} s, to the complete answer {full:.2f} s")
    reply = _bot_text(page)
    m = re.search(r"I suggest (\S+), with a likely range of (\S+) to (\S+) \(", reply)
    assert m, reply
    assert product["title"][:40] in reply and "Why:" in reply
    _, full = _ask(page, "what if I charge 1,299?", "At " + format_money(1299, product["currency"]))
    what_if = _bot_text(page)
    assert "Margin:" in what_if and format_money(1199, product["currency"]) in what_if

    page.locator("#chat-comment textarea").fill("a bit high for my shop")
    page.locator("#chat-up").click()
    status = page.locator("#chat-feedback-status")
    status.get_by_text("saved").wait_for()
    sid = re.search(r"suggestion ([0-9a-f]{32})", status.inner_text()).group(1)
    fb = service.store.feedback_for(sid)
    assert [(f.verdict, f.comment) for f in fb] == [("accepted", "a bit high for my shop")]
    s = service.store.get_suggestion(sid)
    assert format_money(s.recommended_price, s.currency) == m.group(1)


def test_workspace_shows_suggestion_plot_and_takes_feedback(open_page, service, product):
    page = open_page()
    page.get_by_role("tab", name="Workspace").click()
    page.locator("#ws-title textarea").fill("Stainless steel insulated water bottle, 1 litre")
    page.locator("#ws-brand textarea").fill("Milton")
    t = service.products
    bottles = t[t["title"].str.contains("bottle", case=False, na=False)]["category_path"].dropna()
    leaf = (bottles.mode().iloc[0] if len(bottles) else product["category"]).split(" > ")[-1]
    cat = page.locator("#ws-category input")
    cat.click()
    cat.press_sequentially(leaf[:14])
    page.locator("#ws-category").get_by_role("option").first.click()
    chosen = cat.input_value()
    assert chosen in set(service.products["category_path"].dropna())
    page.locator("#ws-cost input").fill("300")
    page.locator("#ws-current input").fill("799")
    page.locator("#ws-min-margin input").fill("25")
    before = service.store.counts()["suggestions"]
    page.locator("#ws-go").click()
    card = page.locator("#ws-card")
    card.get_by_text("I suggest").wait_for()
    page.locator("#ws-plot-comparables img").wait_for()
    page.locator("#ws-plot-competitors img").wait_for()
    assert service.store.counts()["suggestions"] == before + 1
    sid = re.search(r"suggestion ([0-9a-f]{32})", card.inner_text()).group(1)
    s = service.store.get_suggestion(sid)
    assert s.recommended_price >= 375.0 - 0.01            # cost 300 + 25 % margin floor
    assert format_money(s.recommended_price, s.currency) in card.inner_text()

    page.locator("#ws-comment textarea").fill("competitors are cheaper")
    page.locator("#ws-down").click()
    page.locator("#ws-feedback-status").get_by_text("saved").wait_for()
    assert [(f.verdict, f.comment) for f in service.store.feedback_for(sid)] == [
        ("rejected", "competitors are cheaper")]


def test_workspace_demand_what_if_plot_for_a_product_with_sales(open_page, service):
    pid = _sales_id(service)
    page = open_page()
    page.get_by_role("tab", name="Workspace").click()
    page.locator("#ws-product-id textarea").fill(pid)       # the title comes from the catalog
    page.locator("#ws-cost input").fill("10")
    page.locator("#ws-whatif input").fill("99")
    page.locator("#ws-go").click()
    page.locator("#ws-card").get_by_text("I suggest").wait_for()
    page.locator("#ws-demand-note").get_by_text("Demand what-if").wait_for()
    page.locator("#ws-plot-demand img").wait_for()
    note = page.locator("#ws-demand-note")
    assert "price elasticity" in note.inner_text()
    s = service.store.get_suggestion(
        re.search(r"suggestion ([0-9a-f]{32})", page.locator("#ws-card").inner_text()).group(1))
    at = format_money(99, s.currency)
    assert f"At {at}: about" in note.inner_text()
    # Another what-if price redraws the demand panel only (no new suggestion).
    before = service.store.counts()["suggestions"]
    page.locator("#ws-whatif input").fill("120")
    page.locator("#ws-whatif-go").click()
    note.get_by_text(f"At {format_money(120, s.currency)}: about").wait_for()
    assert service.store.counts()["suggestions"] == before
    page.locator("#ws-product-id textarea").fill("no-such-product")
    page.locator("#ws-go").click()
    page.locator("#ws-card").get_by_text("Product id: no-such-product is not in the catalog").wait_for()


def test_workspace_bad_input_shows_a_clear_message(open_page, service):
    page = open_page()
    page.get_by_role("tab", name="Workspace").click()
    before = service.store.counts()["suggestions"]
    page.locator("#ws-go").click()
    card = page.locator("#ws-card")
    card.get_by_text("Title: required").wait_for()
    page.locator("#ws-title textarea").fill("Desk lamp")
    page.locator("#ws-cost input").fill("-5")
    page.locator("#ws-go").click()
    card.get_by_text("Unit cost: must be 0 or more, got -5.").wait_for()
    assert "Title" not in card.inner_text() and "I suggest" not in card.inner_text()
    assert page.locator("#ws-plot-comparables img").count() == 0
    assert service.store.counts()["suggestions"] == before


def test_two_sessions_are_isolated(open_page, product):
    a, b = open_page(), open_page()
    _ask(a, "set my minimum margin to 30%", "minimum margin is now 30.0%")
    cost = round(product["price"] * 10)    # a 30 % floor on this cost binds for sure
    _ask(a, f"price {product['id']}, my cost is {cost}", "I suggest")
    assert "cost floor" in _bot_text(a)
    # B starts empty, with default rules, and sees nothing of A's conversation.
    assert b.locator("#chat [data-testid='user']").count() == 0
    _ask(b, "why?", "Ask me about a product first")
    _ask(b, f"price {product['id']}", "I suggest")
    assert "cost floor" not in _bot_text(b) and "30.0%" not in b.locator("#chat").inner_text()
    assert "why?" not in [u.inner_text().strip() for u in a.locator("#chat [data-testid='user']").all()]
    b.get_by_role("tab", name="Workspace").click()
    b.locator("#ws-up").click()
    b.locator("#ws-feedback-status").get_by_text("no suggestion to rate yet").wait_for()
