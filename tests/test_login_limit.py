"""The sign-in limit of /ui (assistant.web.login_limit): the real server (build_server, uvicorn)
over real HTTP, with Gradio's own login route behind the limit.

Client addresses: uvicorn trusts ``X-Forwarded-For`` from 127.0.0.1 (its default), so each
test signs in "from" addresses of its own. Two servers: one with a 4-second window (the
lock lifts), one with the default 15 minutes (nothing lifts during a test).
"""
from __future__ import annotations

import logging
import time

import httpx
import pytest

from assistant.http.deps import ApiSettings
from assistant.server import build_server
from assistant.settings import LoginLimit
from assistant.web.login_limit import LoginLimiter
from tests.conftest import live_server

ANN, MIA, BOB = "ann-key-0123456789abc", "mia-key-0123456789abc", "bob-key-0123456789abc"
WINDOW = 4


def settings() -> ApiSettings:
    return ApiSettings(api_keys={ANN: "approver", MIA: "merchant", BOB: "merchant"},
                       key_names={ANN: "ann", MIA: "mia", BOB: "bob"})


@pytest.fixture(scope="module")
def short(tiny_service):
    """A server whose limit is 5 failures in WINDOW seconds."""
    app = build_server(tiny_service, settings(), login_limit=LoginLimit(5, WINDOW))
    with live_server(app, "uvicorn-login-short") as url:
        yield url


@pytest.fixture(scope="module")
def long(tiny_service):
    """A server with the default limit (5 failures in 15 minutes)."""
    with live_server(build_server(tiny_service, settings()), "uvicorn-login-long") as url:
        yield url


def sign_in(base: str, user: str, key: str, addr: str) -> httpx.Response:
    return httpx.post(base + "/ui/login", data={"username": user, "password": key},
                      headers={"X-Forwarded-For": addr}, timeout=30)


def test_five_failures_lock_out_even_the_right_key_until_the_window_passes(short):
    t0 = time.monotonic()
    for _ in range(5):
        assert sign_in(short, "ann", "wrong-key-0123456789", "10.0.0.1").status_code == 400
    r = sign_in(short, "ann", ANN, "10.0.0.1")
    assert time.monotonic() - t0 < WINDOW, "too slow to test the window (machine overloaded)"
    assert r.status_code == 429
    assert "Too many failed sign-ins" in r.json()["detail"] and "try again in" in r.json()["detail"]
    assert 1 <= int(r.headers["Retry-After"]) <= WINDOW
    assert "access-token" not in r.headers.get("set-cookie", "")
    time.sleep(WINDOW + 0.5)
    r = sign_in(short, "ann", ANN, "10.0.0.1")
    assert r.status_code == 200 and r.json() == {"success": True}
    assert r.cookies and httpx.get(short + "/ui/config", cookies=r.cookies,
                                   timeout=30).status_code == 200     # signed in


def test_a_success_resets_the_count(long):
    """(mia is locked out afterwards: other tests sign in as ann and bob.)"""
    for _ in range(2):
        for _ in range(4):
            assert sign_in(long, "mia", "wrong-key-0123456789", "10.0.1.1").status_code == 400
        r = sign_in(long, "mia", MIA, "10.0.1.1")
        assert r.status_code == 200, r.text      # 8 failures in all, never 5 since a success
    for _ in range(5):
        sign_in(long, "mia", "wrong-key-0123456789", "10.0.1.1")
    assert sign_in(long, "mia", MIA, "10.0.1.1").status_code == 429


def test_an_address_and_a_user_name_are_limited_each(long):
    # five names guessed from one address: that address is refused, for anyone
    for i in range(5):
        assert sign_in(long, f"guess{i}", "wrong-key-0123456789", "10.0.2.1").status_code == 400
    assert sign_in(long, "ann", ANN, "10.0.2.1").status_code == 429
    assert sign_in(long, "ann", ANN, "10.0.2.2").status_code == 200   # another address: fine
    # one name guessed from five addresses: that name is refused, from anywhere
    for i in range(5):
        assert sign_in(long, "ann", "wrong-key-0123456789", f"10.0.3.{i}").status_code == 400
    assert sign_in(long, "ann", ANN, "10.0.3.9").status_code == 429
    assert sign_in(long, "bob", BOB, "10.0.3.9").status_code == 200   # another name: fine


def test_failures_are_logged_without_the_password(long, caplog):
    caplog.set_level(logging.WARNING, logger="assistant.web.login_limit")
    secret = "not-the-key-but-secret-42"
    assert sign_in(long, "carl", secret, "10.0.4.1").status_code == 400
    assert sign_in(long, ANN, secret, "10.0.4.2").status_code == 400   # a key as the name
    text = caplog.text
    assert "sign-in failed" in text and "'carl'" in text and "10.0.4.1" in text
    assert secret not in text and ANN not in text
    assert "an API key typed as the user name" in text


def test_the_sign_in_page_states_the_limit(long, short):
    page = httpx.get(long + "/ui/config", timeout=30).json()["detail"]["auth_message"]
    assert "After 5 failed sign-ins within 15 minutes" in page
    assert "4 seconds" in httpx.get(short + "/ui/config", timeout=30).json()["detail"][
        "auth_message"]


def test_no_limit_when_max_failures_is_zero():
    lim = LoginLimiter(LoginLimit(0, 60))
    assert not lim.enabled and lim.notice == ""
    assert all(lim.acquire("a", "b") == 0.0 for _ in range(50))
    with pytest.raises(ValueError, match="max_failures"):
        LoginLimit(-1, 60)
    with pytest.raises(ValueError, match="window_s"):
        LoginLimit(5, 0)
