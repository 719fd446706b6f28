"""The composition root of the server: the REST API with the merchant UI mounted at ``/ui``.

    from assistant.server import build_server
    app = build_server(service, settings)          # FastAPI app; uvicorn.run(app, ...)

``http`` and ``web`` never import each other (nor does ``cli`` import either): this module is
the one place that puts the API and the UI on one port, so ``pricing serve`` and the tests
build the same thing.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.http.app import ApiSettings, create_app
from assistant.web.app import mount
from assistant.web.approvals_tab import approvals_tab_for
from assistant.web.catalog_tab import catalog_tab_for
from assistant.web.curate import curate_tab_for

if TYPE_CHECKING:
    from fastapi import FastAPI

    from assistant.pricebook import PriceBook
    from assistant.service import PricingService


def build_server(service: PricingService, settings: ApiSettings, *, ui: bool = True,
                 ui_path: str = "/ui", pricebook: PriceBook | None = None) -> FastAPI:
    """The API for ``service`` under ``settings``; with ``ui``, the Gradio app at ``ui_path``;
    ``pricebook``: the price list that applied suggestions go to (apply, history, approvals)."""
    app = create_app(service, settings, pricebook=pricebook)
    if ui:
        # Curate tab: commits need a curator name, and a curator key when auth is on; the
        # Approvals tab likewise an approver's.
        tabs = [curate_tab_for(settings)]
        if pricebook is not None:
            tabs += [catalog_tab_for(settings, pricebook), approvals_tab_for(settings, pricebook)]
        mount(app, service, path=ui_path, extra_tabs=tabs, pricebook=pricebook)
    return app


__all__ = ["ApiSettings", "build_server"]
