"""The composition root of the server: the REST API with the merchant UI mounted at ``/ui``.

    from assistant.server import build_server
    app = build_server(service, settings)          # FastAPI app; uvicorn.run(app, ...)

With keys, the UI asks for a login against the same keys (:mod:`assistant.web.login`: the
key's name and the key; its role decides what the tabs allow), behind a limit on failed
sign-ins per client address and user name (``login_limit``, :mod:`assistant.web.login_limit`);
without keys it is served only when ``settings.auth_disabled`` (``pricing serve --no-auth``)
— else ValueError.

``http`` and ``web`` never import each other (nor does ``cli`` import either): this module is
the one place that puts the API and the UI on one port, so ``pricing serve`` and the tests
build the same thing.
"""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from assistant.http.app import ApiSettings, create_app
from assistant.settings import LoginLimit
from assistant.web.app import mount
from assistant.web.approvals_tab import approvals_tab_for
from assistant.web.catalog_tab import catalog_tab_for
from assistant.web.curate import curate_tab_for
from assistant.web.login import UiLogin
from assistant.web.login_limit import LoginLimiter, guard_login

if TYPE_CHECKING:
    from fastapi import FastAPI

    from assistant.pricebook import PriceBook
    from assistant.service import PricingService


def build_server(service: PricingService, settings: ApiSettings, *, ui: bool = True,
                 ui_path: str = "/ui", pricebook: PriceBook | None = None,
                 login_limit: LoginLimit | None = None) -> FastAPI:
    """The API for ``service`` under ``settings``; with ``ui``, the Gradio app at ``ui_path``;
    ``pricebook``: the price list that applied suggestions go to (apply, history, approvals);
    ``login_limit``: failed UI sign-ins allowed per address / user name (default 5 in 15
    minutes; ``Settings.login_limit`` reads PRICING_LOGIN_*).
    Raises ValueError for a UI with neither keys nor ``auth_disabled``."""
    # Before anything starts: a UI nobody can sign in to (and that is not meant to be open)
    # is refused.
    limiter = (LoginLimiter(login_limit or LoginLimit()) if ui and not settings.auth_disabled
               else None)
    login = UiLogin(settings, notice=limiter.notice if limiter else "") if ui else None
    app = create_app(service, settings, pricebook=pricebook)
    if limiter is not None and login is not None:
        # Gradio's auth callable never sees the request: the limit guards its login route
        guard_login(app, ui_path, limiter, hide=login.is_key)
    if ui:
        # Signed in, the key's role decides: curators edit the graph (Curate tab, catalog
        # upload), approvers decide the queue; without auth the tabs ask for a name.
        tabs = [curate_tab_for(settings, login)]
        if pricebook is not None:
            tabs += [catalog_tab_for(settings, pricebook, login),
                     approvals_tab_for(settings, pricebook, login)]
        mount(app, service, path=ui_path, extra_tabs=tabs, pricebook=pricebook, login=login)
    return app


@contextmanager
def serve_in_thread(app: object, name: str = "uvicorn", start_timeout: float = 30) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a daemon thread; yield its base URL.

    For tests and scripts (screenshots, benchmarks) that need the real server over real HTTP.
    Raises RuntimeError when it has not started within ``start_timeout`` s; stops it on exit.
    """
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True, name=name)
    th.start()
    deadline = time.monotonic() + start_timeout
    while not srv.started:
        if time.monotonic() > deadline or not th.is_alive():
            srv.should_exit = True
            raise RuntimeError(f"uvicorn ({name}) did not start within {start_timeout:.0f} s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        th.join(10)


__all__ = ["ApiSettings", "build_server", "serve_in_thread"]
