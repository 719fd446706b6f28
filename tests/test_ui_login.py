"""The login of /ui (assistant.web.login): Gradio's auth against the API keys, and what each
role may do — a real server (build_server, uvicorn) driven by Debian's Chromium through
Playwright as a merchant, a curator and an approver, plus a wrong password; the server-side
checks through gradio_client; no UI without keys unless --no-auth. ~60 s after `tiny_service`."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from gradio_client import Client
from playwright import sync_api
from playwright.sync_api import expect
from typer.testing import CliRunner

from assistant.http.deps import ApiSettings
from assistant.pricebook import ApprovalPolicy, PriceBook
from assistant.server import build_server
from assistant.suggestion import Evidence, Interval, Suggestion
from assistant.web.login import UiLogin, User
from tests.conftest import live_server, service_on_store_copy
from tests.test_catalog_import import leaves, quoted

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MERCHANT, CURATOR, APPROVER = ("merchant-key-0123456789", "curator-key-0123456789",
                               "approver-key-0123456789")
UNNAMED = "unnamed-key-0123456789"
NAMES = {MERCHANT: "mia", CURATOR: "carl", APPROVER: "ann"}
KEYS = {MERCHANT: "merchant", CURATOR: "curator", APPROVER: "approver"}


def settings() -> ApiSettings:
    return ApiSettings(api_keys={**KEYS, UNNAMED: "merchant"}, key_names=NAMES)


# --------------------------------------------------------------------------- without a browser

def test_names_and_keys_sign_in_and_roles_give_rights():
    s = settings()
    login = UiLogin(s)
    assert login.enabled
    assert login.check("ann", APPROVER) and login.check(" ann ", APPROVER)
    assert not login.check("ann", MERCHANT)            # another user's key
    assert not login.check("mia", "wrong-key-0123456789") and not login.check("", "")
    assert login.check(s.name_of(UNNAMED), UNNAMED)   # unnamed keys: the name the logs show
    ann = login.user(SimpleNamespace(username="ann"))
    assert ann == User("ann", "approver") and ann.actor == "approver:ann"
    assert ann.may("approve") and ann.may("apply") and not ann.may("edit_graph")
    carl = login.user(SimpleNamespace(username="carl"))
    assert carl.may("edit_graph") and not carl.may("approve")
    mia = login.user(SimpleNamespace(username="mia"))
    assert mia.may("apply") and not mia.may("edit_graph") and not mia.may("approve")
    with pytest.raises(ValueError, match="needs an approver key"):
        mia.require("approve")
    nobody = login.user(SimpleNamespace(username=None))
    assert not nobody.may("read")                      # signed in as no one: no rights
    open_ui = UiLogin(ApiSettings(auth_disabled=True))
    assert not open_ui.enabled and open_ui.user(SimpleNamespace(username="x")) is None


def test_no_ui_without_keys_unless_no_auth(monkeypatch):
    with pytest.raises(ValueError, match="--no-auth"):
        build_server(SimpleNamespace(), ApiSettings())          # refused before anything starts
    from assistant.cli.main import app

    r = CliRunner().invoke(app, ["serve", "--artifact", "/nonexistent"],
                           env={"PRICING_API_KEYS": None, "PRICING_AUTH_DISABLED": None})
    assert r.exit_code == 2 and "no API keys configured" in r.output


# --------------------------------------------------------------------------- in the browser

@pytest.fixture(scope="module")
def svc(tiny_service, tmp_path_factory):
    s = service_on_store_copy(tiny_service, tmp_path_factory.mktemp("ui_login"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    b = PriceBook(tmp_path_factory.mktemp("ui_login_book") / "book.sqlite",
                  ApprovalPolicy(max_auto_change=0.05, min_confidence=0.5))
    yield b
    b.close()


@pytest.fixture(scope="module")
def waiting(svc, book) -> int:
    """An approval waiting for an approver: a +40% change of a catalog product."""
    pid = svc.products[svc.products["price"].notna()].index[0]
    price = float(svc.products.loc[pid, "price"]) * 1.4
    s = Suggestion(suggestion_id="login-test-s1", product_id=pid, title="t", currency="INR",
                   recommended_price=price, model_price=price,
                   interval=Interval(low=price * 0.8, high=price * 1.2, coverage=0.8),
                   current_price=price / 1.4, evidence=Evidence(), confidence=0.9,
                   model_version="t", created_at="2026-11-30")
    svc.store.add_suggestion(s)
    return book.apply(s, actor="merchant:mia").approval.approval_id


@pytest.fixture(scope="module")
def base(svc, book):
    with live_server(build_server(svc, settings(), pricebook=book), "uvicorn-ui-login") as url:
        yield url


def sign_in(page, base: str, name: str, key: str) -> None:
    page.goto(base + "/ui/")
    page.get_by_label("username").fill(name)
    page.get_by_label("password").fill(key)
    page.get_by_role("button", name="Login").click()


def test_wrong_passwords_are_refused(base):
    r = httpx.post(base + "/ui/login", data={"username": "ann", "password": MERCHANT})
    assert r.status_code == 400
    assert httpx.get(base + "/ui/config").status_code == 401
    with pytest.raises(Exception, match="(?i)login|credentials|401"):
        Client(base + "/ui/", auth=("ann", "not-the-key-0123456789"), verbose=False,
               analytics_enabled=False)


def test_each_role_signs_in_and_may_do_what_its_key_may(base, svc, book, waiting, tmp_path):
    assert CHROMIUM.exists(), "the browser tests need Debian's chromium at /usr/bin/chromium"
    leaf = sorted(leaves(svc))[0]
    upload = tmp_path / "catalog.csv"
    upload.write_text(f"product_id,title,category_path,price,currency\n"
                      f"LOGIN-1,Enamel camping mug 350 ml,{quoted(leaf)},299,INR\n")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            # a wrong password: refused, still on the login form
            page = browser.new_context().new_page()
            page.set_default_timeout(30_000)
            sign_in(page, base, "ann", "wrong-key-0123456789")
            expect(page.get_by_text("Incorrect Credentials")).to_be_visible()
            page.context.close()

            # the merchant: reads, may not approve, edit the graph or upload a catalog
            page = browser.new_context().new_page()
            page.set_default_timeout(30_000)
            sign_in(page, base, "mia", MERCHANT)
            expect(page.locator("#login-banner")).to_contain_text("Signed in as mia (merchant)")
            page.get_by_role("tab", name="Approvals").click()
            expect(page.locator("#ap-approve")).to_be_disabled()
            expect(page.locator("#ap-name")).to_be_hidden()      # the login says who: no name box
            page.get_by_role("tab", name="Curate").click()
            expect(page.locator("#cur-commit")).to_be_disabled()
            expect(page.locator("#cur-who")).to_be_hidden()
            page.get_by_role("tab", name="Catalog").click()
            page.get_by_text("Upload a catalog (products CSV)").click()
            expect(page.locator("#cat-import-go")).to_be_disabled()
            page.locator("#login-logout").click()                 # back to the login form
            expect(page.get_by_label("password")).to_be_visible()
            page.context.close()

            # the curator: uploads a catalog (audited under the signed-in name), cannot approve
            page = browser.new_context().new_page()
            page.set_default_timeout(60_000)
            sign_in(page, base, "carl", CURATOR)
            expect(page.locator("#login-banner")).to_contain_text("carl (curator)")
            page.get_by_role("tab", name="Catalog").click()
            page.get_by_text("Upload a catalog (products CSV)").click()
            page.locator("#cat-import input[type=file]").set_input_files(str(upload))
            # the uploaded file's row (its name may render in two spans: "catalog" ".csv")
            expect(page.locator("#cat-import").get_by_role("cell", name="catalog.csv")
                   ).to_be_visible(timeout=60_000)
            page.locator("#cat-import-go").click()
            expect(page.locator("#cat-import-msg")).to_contain_text("1 added")
            assert svc.curation.audit(limit=1).entries[0].actor == "curator:carl"
            assert "LOGIN-1" in svc.products.index
            expect(page.locator("#cat-approve")).to_be_disabled()
            page.get_by_role("tab", name="Curate").click()
            expect(page.locator("#cur-commit")).to_be_enabled()
            page.context.close()

            # the approver: approves the waiting change under the signed-in name
            page = browser.new_context().new_page()
            page.set_default_timeout(30_000)
            sign_in(page, base, "ann", APPROVER)
            expect(page.locator("#login-banner")).to_contain_text("ann (approver)")
            page.get_by_role("tab", name="Approvals").click()
            page.locator("#ap-id input").fill(str(waiting))
            page.locator("#ap-approve").click()
            expect(page.locator("#ap-msg")).to_contain_text("Approved")
            assert book.approval(waiting).decided_by == "approver:ann"
            page.get_by_role("tab", name="Curate").click()
            expect(page.locator("#cur-commit")).to_be_disabled()
            page.context.close()
        finally:
            browser.close()


def test_handlers_check_the_role_even_when_called_directly(base, svc, book):
    """A disabled button is a hint: a merchant calling /approve through gradio_client is
    refused by the handler, and the curator's graph edit is recorded under its name."""
    pid = svc.products[svc.products["price"].notna()].index[1]
    price = float(svc.products.loc[pid, "price"]) * 1.5
    s = Suggestion(suggestion_id="login-test-s2", product_id=pid, title="t", currency="INR",
                   recommended_price=price, model_price=price,
                   interval=Interval(low=price * 0.8, high=price * 1.2, coverage=0.8),
                   current_price=price / 1.5, evidence=Evidence(), confidence=0.9,
                   model_version="t", created_at="2026-11-30")
    svc.store.add_suggestion(s)
    aid = book.apply(s, actor="merchant:mia").approval.approval_id
    c = Client(base + "/ui/", auth=("mia", MERCHANT), verbose=False, analytics_enabled=False)
    try:
        msg, _ = c.predict(aid, "", "", 0, "", "pending", api_name="/approve")
        assert "needs an approver key" in msg and book.approval(aid).status == "pending"
    finally:
        c.close()
    c = Client(base + "/ui/", auth=("ann", APPROVER), verbose=False, analytics_enabled=False)
    try:
        msg, _ = c.predict(aid, "someone else", "", 0, "", "pending", api_name="/approve")
        assert msg.startswith("✓ Approved")
        assert book.approval(aid).decided_by == "approver:ann"   # the login, not the typed name
    finally:
        c.close()


def test_the_chat_applies_under_the_signed_in_name_and_only_with_a_key_that_may(base, svc, book):
    """"apply it" in the chat goes to the price book as the signed-in user (not a generic
    chat actor); a user whose role may not apply is refused and nothing is queued."""
    pid = sorted(svc.products[svc.products["price"].notna()].index)[2]
    c = Client(base + "/ui/", auth=("mia", MERCHANT), verbose=False, analytics_enabled=False)
    try:
        c.predict(f"price {pid}", api_name="/chat")
        before = {a.approval_id for a in book.approvals(status=None, limit=1000)}
        reply = c.predict("apply it", api_name="/chat")
        after = [a for a in book.approvals(status=None, limit=1000) if a.approval_id not in before]
        history = book.history(pid) if not after else []
        assert after or history, reply
        who = after[0].requested_by if after else history[0].actor
        assert who == "merchant:mia", reply
    finally:
        c.close()
