"""The merchant assistant in the browser (Gradio): the Chat and Workspace tabs, plus extra tabs.

Run::

    pricing serve --artifact runs/model            # API + this UI at http://127.0.0.1:8000/ui
    python -m assistant.web.app                    # the UI alone (PRICING_* env), port 7860

    from assistant.web.app import build_ui, mount
    demo = build_ui(service)                       # gr.Blocks
    app = mount(fastapi_app, service, path="/ui")  # served beside the REST API
    app = mount(fastapi_app, service, path="/ui", login=UiLogin(api_settings))  # signed in

One module per tab: :mod:`assistant.web.chat_tab`, :mod:`assistant.web.workspace_tab` and
:mod:`assistant.web.curate` (plugged in by :mod:`assistant.server` through ``extra_tabs``).
Each browser session has its own conversation, rules and last suggestions (gr.State), so two
merchants never see each other's chat or settings.

Programmatic use (``gradio_client``): the endpoints are named (:data:`API_NAMES`, e.g.
``/chat``, ``/suggest``, ``/what_if``); every other event is UI-only (``api_visibility=
"private"``), so ``Client.view_api()`` lists exactly those.

Login: with a :class:`assistant.web.login.UiLogin` over the server's API keys, ``/ui`` asks
for the key's name and the key (Gradio's auth) and the tabs allow what the key's role allows;
``pricing serve`` always mounts it so (without keys only with ``--no-auth``).

Offline: analytics off, no share links, SSR off (no Node server), and the default theme's
fonts are served from the installed package.
"""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import gradio as gr

from assistant.chat import ChatAgent
from assistant.web.alerts_tab import alerts_tab
from assistant.web.chat_tab import chat_tab
from assistant.web.login import UiLogin
from assistant.web.monitoring_tab import monitoring_tab
from assistant.web.workspace_tab import workspace_tab

if TYPE_CHECKING:
    from fastapi import FastAPI

    from assistant.pricebook import PriceBook
    from assistant.service import PricingService

# The endpoints the Chat and Workspace tabs offer to gradio_client (the Curate tab adds its own).
API_NAMES = ("chat", "suggest", "what_if")
CSS = """
#ws-card .prose p { margin: 0.2em 0; }
.feedback-row { align-items: end; }
"""

Tab = Callable[["PricingService"], object]


def build_ui(service: PricingService, agent: ChatAgent | None = None,
             extra_tabs: Sequence[Tab] = (), k_comparables: int = 20,
             pricebook: PriceBook | None = None, login: UiLogin | None = None) -> gr.Blocks:
    """The Gradio app over a PricingService.

    agent: the chat logic (default ChatAgent.from_env(service): the regex parser, or LLM tool
    calling when PRICING_LLM_BACKEND=openai). extra_tabs: functions called inside the tab bar
    after Workspace, each rendering one more `gr.Tab` (the graph Curate tab plugs in here).
    k_comparables: comparables fetched in the Workspace (enough for a distribution).
    pricebook: the price list behind the Workspace's "Apply" button and the chat's "apply it"
    (the Approvals tab plugs in through extra_tabs:
    :func:`assistant.web.approvals_tab.approvals_tab_for`).
    login: who is signed in (a header with a log-out link; the Workspace's Apply is recorded
    under that name; the extra tabs get it through their ``*_tab_for`` functions).
    """
    agent = agent if agent is not None else ChatAgent.from_env(service, pricebook=pricebook)
    agent.warm_up()
    with gr.Blocks(title="Pricing assistant", analytics_enabled=False) as demo:
        gr.Markdown("## Pricing assistant\nPrices you can defend: a suggestion, its evidence, "
                    "your guardrails and a checked explanation.")
        if login is not None:
            login.header()
        with gr.Tabs():
            chat_tab(service, agent, login=login)
            workspace_tab(service, agent, k_comparables=k_comparables, pricebook=pricebook,
                          login=login)
            # More tabs (e.g. graph curation: "Curate") render here, after Workspace.
            for render_tab in extra_tabs:
                render_tab(service)
            monitoring_tab(service)  # outcomes, drift, alerts, model versions (issue 18)
            alerts_tab(service)      # pricing alerts from scheduled jobs (issue 17)
        if login is not None:
            login.bind(demo)  # on page load: who is signed in, buttons their role may use
    return demo


def mount(app: FastAPI, service: PricingService, path: str = "/ui",
          extra_tabs: Sequence[Tab] = (), pricebook: PriceBook | None = None,
          login: UiLogin | None = None, **kwargs: Any) -> FastAPI:
    """Serve the UI inside a FastAPI app (e.g. the REST API's) at `path`; returns the app.
    extra_tabs, pricebook and login go to build_ui (an enabled login also becomes Gradio's
    ``auth``: the page asks for a sign-in); other kwargs to gr.mount_gradio_app."""
    kwargs.setdefault("ssr_mode", False)
    kwargs.setdefault("css", CSS)
    if login is not None and login.enabled:
        kwargs.setdefault("auth", login.check)
        kwargs.setdefault("auth_message", login.auth_message)
    demo = build_ui(service, extra_tabs=extra_tabs, pricebook=pricebook, login=login)
    return gr.mount_gradio_app(app, demo, path=path, **kwargs)


def main() -> None:  # pragma: no cover - manual entry point
    from assistant.service import PricingService
    from assistant.settings import Settings

    build_ui(PricingService.from_settings(Settings())).launch(server_name="127.0.0.1", share=False, ssr_mode=False,
                                              css=CSS)


if __name__ == "__main__":  # pragma: no cover
    main()
