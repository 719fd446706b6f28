"""The sign-in limit of ``/ui``: too many failed sign-ins and further ones are refused for a while.

Use::

    from assistant.settings import LoginLimit
    from assistant.web.login_limit import LoginLimiter, guard_login
    limiter = LoginLimiter(LoginLimit(max_failures=5, window_s=900))
    guard_login(app, "/ui", limiter, hide=login.is_key)   # assistant.server does this
    limiter.acquire("10.0.0.7", "ann")   # 0.0: may try; > 0: refused, seconds until it may
    limiter.succeeded("10.0.0.7", "ann") # a sign-in worked: both counters start again

Gradio's ``auth`` callable sees only the user name and password, not the request, so the
limit sits in front of Gradio's ``POST /ui/login`` as an ASGI middleware (:func:`guard_login`)
that reads the form's user name and the client address. Each sign-in attempt counts against
both the address and the user name (a moving window of ``window_s`` seconds, from the
``limits`` library, in memory); once either has ``max_failures`` in the window, every attempt
is refused with 429, ``Retry-After`` and a message — the right password too — until the
oldest failure leaves the window. A successful sign-in clears the counters of its address and
user name. Every failure and refusal is logged (user name and address, never the password;
a user name that is itself an API key is not written either).

The address is the connection's, or the ``X-Forwarded-For`` one when uvicorn trusts the proxy
that sent it (``FORWARDED_ALLOW_IPS``; by default only 127.0.0.1 and ::1). Gradio's login page shows
"Incorrect credentials" for a 400 only, nothing for a 429: the page's sign-in note therefore
states the limit (:attr:`LoginLimiter.notice`); API clients get the message in the body.
"""
from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request

from assistant.settings import LoginLimit

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_FORM_BYTES = 64 * 1024  # a user name and a key; anything bigger is not a sign-in
_NAME_CHARS = 200           # longer user names share a counter (configured names are <= 64)


class LoginLimiter:
    """Failed sign-ins per client address and per user name, in a moving window."""

    def __init__(self, limit: LoginLimit) -> None:
        self.limit = limit
        self._item = RateLimitItemPerSecond(max(limit.max_failures, 1), limit.window_s,
                                            namespace="ui-login")
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    @property
    def enabled(self) -> bool:
        return self.limit.max_failures > 0

    @property
    def notice(self) -> str:
        """One sentence for the sign-in page."""
        if not self.enabled:
            return ""
        w = self.limit.window_s
        span = f"{w / 60:g} minutes" if w >= 120 else f"{w} seconds"
        return (f"After {self.limit.max_failures} failed sign-ins within {span} from one address "
                f"or for one user name, sign-in is refused (even with the right key) until the "
                f"first of them is {span} old.")

    @staticmethod
    def _keys(addr: str, user: str) -> list[tuple[str, str]]:
        return [("addr", addr), ("user", user.strip()[:_NAME_CHARS])]

    def acquire(self, addr: str, user: str) -> float:
        """Count one attempt (as a failure until :meth:`succeeded` says otherwise); 0.0 when
        it may go on, else the seconds until the address and the name may try again."""
        if not self.enabled:
            return 0.0
        keys = self._keys(addr, user)
        if all(self._limiter.test(self._item, *k) for k in keys):
            # hit() refuses too when a concurrent attempt filled the window meanwhile
            if all([self._limiter.hit(self._item, *k) for k in keys]):
                return 0.0
        return self.wait(addr, user)

    def wait(self, addr: str, user: str) -> float:
        """Seconds until the fullest of the two windows lets an attempt through (0: now)."""
        now = time.time()
        waits = [0.0]
        for k in self._keys(addr, user):
            stats = self._limiter.get_window_stats(self._item, *k)
            if stats.remaining <= 0:
                waits.append(max(stats.reset_time - now, 0.0))
        return max(waits)

    def failures(self, addr: str, user: str) -> int:
        """Failures counted in the window (the larger of the address's and the name's)."""
        if not self.enabled:
            return 0
        left = min(self._limiter.get_window_stats(self._item, *k).remaining
                   for k in self._keys(addr, user))
        return self.limit.max_failures - left

    def succeeded(self, addr: str, user: str) -> None:
        for k in self._keys(addr, user):
            self._limiter.clear(self._item, *k)


def _shown(user: str, hide: Callable[[str], bool] | None) -> str:
    """The user name for the log: quoted, shortened, and never an API key."""
    if hide is not None and user and hide(user):
        return "<an API key typed as the user name>"
    return repr(user[:64])


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive() that hands out the buffered body once, then the real channel's messages."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()
    return again


async def _answer(send: Send, status: int, detail: str, headers: dict[str, str] | None = None
                  ) -> None:
    body = json.dumps({"detail": detail}).encode()
    hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    hdrs += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})


class LoginLimitMiddleware:
    """ASGI middleware: applies a :class:`LoginLimiter` to ``POST <path>/login``."""

    def __init__(self, app: Any, *, limiter: LoginLimiter, path: str = "/ui",
                 hide: Callable[[str], bool] | None = None) -> None:
        self.app = app
        self.limiter = limiter
        base = "/" + path.strip("/")
        self.paths = {f"{base}/login", f"{base}/login/"}
        self.hide = hide

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not self._ours(scope):
            await self.app(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body += msg.get("body", b"")
            more = bool(msg.get("more_body"))
            if len(body) > MAX_FORM_BYTES:
                await _answer(send, 413, f"a sign-in form has at most {MAX_FORM_BYTES} bytes")
                return
        user = await self._username(scope, bytes(body))
        addr = str((scope.get("client") or ("unknown",))[0])
        wait = self.limiter.acquire(addr, user)
        if wait > 0:
            secs = max(1, math.ceil(wait))
            log.warning("UI sign-in refused: too many failed sign-ins (user %s from %s); "
                        "%d s to wait", _shown(user, self.hide), addr, secs)
            await _answer(send, 429, f"Too many failed sign-ins from this address or for this "
                                     f"user name: sign-in is paused; try again in "
                                     f"{_span(secs)}.", {"Retry-After": str(secs)})
            return
        status: dict[str, int] = {}

        async def watch(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                status["code"] = int(msg["status"])
            await send(msg)

        await self.app(scope, _replay(bytes(body), receive), watch)
        if status.get("code") == 200:
            self.limiter.succeeded(addr, user)
        else:
            log.warning("UI sign-in failed (HTTP %s): user %s from %s, %d of %d failures "
                        "allowed in %d s", status.get("code"), _shown(user, self.hide), addr,
                        self.limiter.failures(addr, user), self.limiter.limit.max_failures,
                        self.limiter.limit.window_s)

    def _ours(self, scope: Scope) -> bool:
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        return path in self.paths

    @staticmethod
    async def _username(scope: Scope, body: bytes) -> str:
        """The form's user name as Gradio reads it (urlencoded or multipart; stripped)."""

        async def nothing() -> Message:
            return {"type": "http.disconnect"}
        try:
            form = await Request(scope, _replay(body, nothing)).form()
        except Exception:  # a malformed form: Gradio answers 422; it still counts
            return ""
        try:
            name = form.get("username")
            return name.strip() if isinstance(name, str) else ""
        finally:
            await form.close()


def _span(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


def guard_login(app: Any, path: str, limiter: LoginLimiter,
                hide: Callable[[str], bool] | None = None) -> None:
    """Put ``limiter`` in front of ``POST <path>/login`` of ``app`` (a FastAPI app, before it
    starts); ``hide(name)``: True for a user name the log must not show (an API key)."""
    if limiter.enabled:
        app.add_middleware(LoginLimitMiddleware, limiter=limiter, path=path, hide=hide)
