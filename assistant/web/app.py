"""The merchant assistant in the browser (Gradio): a Chat tab and a suggestion Workspace.

Run::

    pricing serve --artifact runs/model            # API + this UI at http://127.0.0.1:8000/ui
    python -m assistant.web.app                         # the UI alone (PRICING_* env), port 7860

    from assistant.web.app import build_ui, mount
    demo = build_ui(service)                       # gr.Blocks
    app = mount(fastapi_app, service, path="/ui")  # served beside the REST API

Each browser session has its own conversation, rules and last suggestions (gr.State), so two
merchants never see each other's chat or settings. Chat replies stream; every number in them
comes from a verified fact sheet (assistant.chat.agent). Feedback (thumbs up/down + comment) is
stored with the suggestion id in the service's SuggestionStore.

Offline: analytics off, no share links, SSR off (no Node server), and the default theme's
fonts are served from the installed package.
"""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr
import pandas as pd
from pydantic import ValidationError

from assistant.chat.agent import ChatAgent, ChatSession
from assistant.guardrails import GuardrailConflict, GuardrailPolicy
from assistant.suggestion_store import FeedbackIn, UnknownSuggestion
from assistant.web.plots import comparables_figure, competitors_figure, demand_figure
from graph.contracts import ProductIn

log = logging.getLogger(__name__)

CURRENCY_CHOICES = ["INR", "GBP", "BRL", "USD", "EUR"]
ENDINGS = [("no ending", "none"), (".99", ".99"), ("whole, ending in 9", "9")]
# Field names in validation errors -> the labels the merchant sees on the form.
FIELD_LABELS = {"title": "Title", "description": "Description", "category_path": "Category",
                "brand": "Brand", "cost": "Unit cost", "price": "Current price", "currency": "Currency",
                "min_margin": "Minimum margin", "map_price": "MAP", "ceiling": "Ceiling",
                "max_change": "Maximum change", "ending": "Price ending"}
CSS = """
#ws-card .prose p { margin: 0.2em 0; }
.feedback-row { align-items: end; }
"""


# ----------------------------------------------------------------------------- feedback
def save_feedback(service: Any, suggestion_id: str | None, liked: bool, comment: str | None) -> str:
    """Store thumbs up/down (+ comment) for a suggestion; returns the confirmation to show."""
    if not suggestion_id:
        return "There is no suggestion to rate yet."
    comment = (comment or "").strip() or None
    try:
        fb = service.store.add_feedback(FeedbackIn(
            suggestion_id=suggestion_id, verdict="accepted" if liked else "rejected", comment=comment))
    except UnknownSuggestion:
        return f"Could not save feedback: suggestion `{suggestion_id}` is not in the store."
    except ValidationError as exc:
        err = exc.errors()[0]
        return f"Could not save feedback: {'.'.join(map(str, err['loc']))}: {err['msg']}"
    thumb = "✓ (good)" if liked else "✗ (not right)"
    extra = " with your comment" if comment else ""
    return f"✓ Thanks — feedback {thumb} saved{extra} for suggestion `{fb.suggestion_id}`."


# ----------------------------------------------------------------------------- workspace logic
def _num(x: Any) -> float | None:
    if x is None or (isinstance(x, str) and not x.strip()):
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def workspace_inputs(title: str | None, description: str | None, category: str | None,
                     brand: str | None, cost: Any, current: Any, currency: str | None,
                     min_margin_pct: Any, map_price: Any, ceiling: Any, max_change_pct: Any,
                     ending: str | None) -> tuple[ProductIn | None, GuardrailPolicy | None, list[str]]:
    """The form as (product, policy, errors); errors name the form field, e.g. "Unit cost: …"."""
    errors: list[str] = []
    # An empty gr.Number arrives as 0; for these fields 0 means "no rule" / "not given".
    current, map_price, ceiling, max_change_pct = (None if _num(v) == 0 else v
                                                   for v in (current, map_price, ceiling, max_change_pct))
    if not (title or "").strip():
        errors.append("Title: required — describe the product you want to price.")
    checks = [("Unit cost", cost, 0.0, True), ("Current price", current, 0.0, False),
              ("Minimum margin", min_margin_pct, 0.0, True), ("MAP", map_price, 0.0, False),
              ("Ceiling", ceiling, 0.0, False), ("Maximum change", max_change_pct, 0.0, False)]
    for label, raw, low, inclusive in checks:
        v = _num(raw)
        if raw not in (None, "") and v is None:
            errors.append(f"{label}: not a number ({raw!r}).")
        elif v is not None and (v < low or (v == low and not inclusive)):
            errors.append(f"{label}: must be {'0 or more' if inclusive else 'above 0'}, got {v:g}.")
    mc = _num(max_change_pct)
    if mc is not None and mc > 100:
        errors.append(f"Maximum change: at most 100 %, got {mc:g}.")
    if errors:
        return None, None, errors
    try:
        product = ProductIn(title=title or "", description=(description or "").strip() or None,
                            category_path=(category or "").strip() or None,
                            brand=(brand or "").strip() or None, cost=_num(cost), price=_num(current),
                            currency=currency or None)
        mm = _num(min_margin_pct)
        policy = GuardrailPolicy(
            min_margin=None if mm is None else mm / 100, map_price=_num(map_price),
            ceiling=_num(ceiling), max_change=None if mc is None else mc / 100,
            ending=ending or "none")
    except ValidationError as exc:
        for e in exc.errors():
            field = str(e.get("loc", ("input",))[0])
            errors.append(f"{FIELD_LABELS.get(field, field)}: {e.get('msg')}.")
        return None, None, errors
    return product, policy, []


def _tables(s: Any) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ev = s.evidence
    cmp = pd.DataFrame([{"product": c.product_id, "title": c.title, "price": c.price,
                         "similarity": round(c.similarity, 3), "category": c.category_path or ""}
                        for c in ev.comparables],
                       columns=["product", "title", "price", "similarity", "category"])
    comp = pd.DataFrame([{"competitor": c.competitor, "price": c.price, "observed": c.observed_at or "",
                          "ours ÷ theirs": c.price_index}
                         for c in sorted(ev.competitors, key=lambda c: c.price)],
                        columns=["competitor", "price", "observed", "ours ÷ theirs"])
    guard = pd.DataFrame([{"rule": g.rule, "before": g.before, "after": g.after, "detail": g.detail}
                          for g in s.guardrails], columns=["rule", "before", "after", "detail"])
    return cmp, comp, guard


def _figures(s: Any) -> tuple[Any, Any]:
    ev = s.evidence
    cat = ev.category
    band = ((cat.p25, cat.median, cat.p75)
            if cat is not None and None not in (cat.p25, cat.median, cat.p75) else None)
    f1 = comparables_figure([c.price for c in ev.comparables], s.recommended_price,
                            s.interval.low, s.interval.high, s.currency, band)
    f2 = competitors_figure([(c.competitor, c.price) for c in ev.competitors], s.recommended_price,
                            s.current_price, s.currency)
    return f1, f2


DEMAND_POINTS = 41


def demand_panel(service: Any, s: Any, candidate: float | None = None,
                 cost: float | None = None) -> tuple[Any, str]:
    """The workspace's what-if: (figure, note) for a suggestion's catalog product with sales
    history, else (None, a message saying why there is no curve). The curve spans the prices
    the product sold at (±10%) and the current, suggested and what-if prices."""
    pid = getattr(s, "product_id", None)
    if not pid or pid not in service.products.index:
        return None, ("**Demand what-if:** give a catalog *Product id* with sales history to "
                      "see expected units and profit against price.")
    if not callable(getattr(service, "what_if_curve", None)):
        return None, "**Demand what-if:** this service has no demand model."
    try:
        base = service.what_if_curve(pid, n=2, cost=cost)   # the observed range, cheaply
        e = base.elasticity
        prices = [base.points[0].price, base.points[-1].price, s.current_price,
                  s.recommended_price, candidate]
        prices = [float(p) for p in prices if p]
        curve = service.what_if_curve(pid, min(prices) * 0.95, max(prices) * 1.05,
                                      DEMAND_POINTS, cost=cost)
    except ValueError as exc:  # NoSalesHistory: no demand model, or no usable history
        why = re.sub(r"^product '[^']*': ", "", str(exc))
        return None, f"**Demand what-if:** not available for `{pid}` — {why}."
    period = curve.points[0].period_days if curve.points else None
    fig = demand_figure(curve.points, current=s.current_price, recommended=s.recommended_price,
                        candidate=candidate, currency=s.currency,
                        observed=(e["observed_low"], e["observed_high"])
                        if e.get("observed_low") and e.get("observed_high") else None,
                        period="month" if period and 27 <= period <= 31 else f"{period:g} days")
    note = (f"**Demand what-if** for `{pid}`: price elasticity {e['beta']:+.2f} "
            f"({e['level']:.0%} interval {e['low']:+.2f} to {e['high']:+.2f}, source "
            f"{e['source']}); shaded bands are {curve.points[0].level:.0%} intervals.")
    if curve.cost is None:
        note += " Give a unit cost to see profit instead of revenue."
    return fig, note


# ----------------------------------------------------------------------------- the app
def build_ui(service: Any, agent: ChatAgent | None = None,
             extra_tabs: Sequence[Callable[[Any], None]] = (), k_comparables: int = 20) -> gr.Blocks:
    """The Gradio app over a PricingService.

    agent: the chat logic (default ChatAgent.from_env(service): the regex parser, or LLM tool
    calling when PRICING_LLM_BACKEND=openai). extra_tabs: functions called inside the tab bar
    after Workspace, each rendering one more `gr.Tab` (the graph Curate tab plugs in here).
    k_comparables: comparables fetched in the Workspace (enough for a distribution).
    """
    from assistant.suggestion import SuggestOptions

    agent = agent if agent is not None else ChatAgent.from_env(service)
    agent.warm_up()
    products = service.products
    categories = sorted({str(c) for c in products["category_path"].dropna() if str(c).strip()})
    default_currency = getattr(service, "default_currency", "INR")
    currencies = CURRENCY_CHOICES if default_currency in CURRENCY_CHOICES else \
        [default_currency] + CURRENCY_CHOICES

    # ------------------------------------------------------------ chat handlers
    def chat_submit(message: str, session: ChatSession | None):
        session = session if isinstance(session, ChatSession) else ChatSession()
        text = (message or "").strip()
        if not text:
            yield session.messages, session, ""
            return
        session.messages.append({"role": "user", "content": text})
        session.messages.append({"role": "assistant", "content": ""})
        idx = len(session.messages) - 1
        try:
            for partial in agent.respond(text, session):
                session.messages[idx]["content"] = partial
                yield session.messages, session, ""
        except Exception:  # show a clear failure instead of a silent broken turn
            log.exception("chat reply failed")
            session.messages[idx]["content"] = "Sorry — something went wrong while answering; please try again."
            yield session.messages, session, ""
            return
        reply = session.last_reply
        if reply is not None and reply.suggestion_id:
            session.suggestion_at[idx] = reply.suggestion_id
        yield session.messages, session, ""

    def chat_like(session: ChatSession | None, comment: str, data: gr.LikeData):
        if not isinstance(session, ChatSession):
            return "There is no suggestion to rate yet."
        idx = data.index if isinstance(data.index, int) else data.index[0]
        sid = session.suggestion_at.get(idx)
        if sid is None:
            return "That message has no price suggestion to rate."
        return save_feedback(service, sid, data.liked in (True, "Like"), comment)

    def chat_feedback(liked: bool):
        def fn(session: ChatSession | None, comment: str):
            sid = None
            if isinstance(session, ChatSession) and session.suggestion is not None:
                sid = session.suggestion.suggestion_id
            return save_feedback(service, sid, liked, comment), ""
        return fn

    def chat_clear():
        return [], ChatSession(), "", ""

    # ------------------------------------------------------------ workspace handlers
    def ws_suggest(title, description, category, brand, cost, current, currency, min_margin, map_price,
                   ceiling, max_change, ending, product_id, whatif, state):
        empty = (None, None, None, None, None)
        pid = (product_id or "").strip()
        errors: list[str] = []
        if pid:  # a catalog product: what the form leaves empty comes from the catalog
            if pid not in service.products.index:
                errors.append(f"Product id: `{pid}` is not in the catalog.")
            else:
                rec = service.product(pid)
                title = title if (title or "").strip() else rec.get("title")
                current = current if _num(current) else rec.get("price")
                currency = rec.get("currency") or currency
        candidate = None if _num(whatif) in (None, 0) else _num(whatif)
        if whatif not in (None, "") and (_num(whatif) is None or _num(whatif) < 0):
            errors.append(f"What-if price: must be a price above 0, got {whatif!r}.")
        product, policy, form_errors = (workspace_inputs(title, description, category, brand, cost,
                                                         current, currency, min_margin, map_price,
                                                         ceiling, max_change, ending)
                                        if not errors else (None, None, []))
        errors += form_errors
        if errors:
            gr.Warning(" ".join(errors))
            card = "### ⚠ No suggestion — please fix the form\n" + "\n".join(f"- {e}" for e in errors)
            return (card, *empty, None, "", "", None)
        if pid:
            product = product.model_copy(update={"product_id": pid})
        try:
            s = service.suggest(product, SuggestOptions(explain=True, k_comparables=k_comparables,
                                                        policy=policy))
        except GuardrailConflict as exc:
            gr.Warning("Your guardrails contradict each other.")
            reply = agent._conflict_reply(exc, ChatSession(currency=product.currency or default_currency),
                                          "workspace")
            return ("### ⚠ No suggestion — your guardrails contradict each other\n" + reply.text,
                    *empty, None, "", "", None)
        except ValueError as exc:  # e.g. a price the guardrails cannot take
            gr.Warning(str(exc))
            return f"### ⚠ No suggestion\n- {exc}", *empty, None, "", "", None
        reply = agent.describe(s, cost=product.cost)
        card = reply.text + f"\n\n<sub>suggestion `{s.suggestion_id}` · model {s.model_version}</sub>"
        f1, f2 = _figures(s)
        cmp, comp, guard = _tables(s)
        f3, note = demand_panel(service, s, candidate, product.cost)
        return card, f1, f2, cmp, comp, guard, s.suggestion_id, "", note, f3

    def ws_feedback(liked: bool):
        def fn(state: str | None, comment: str):
            return save_feedback(service, state, liked, comment), ""
        return fn

    # ------------------------------------------------------------ layout
    with gr.Blocks(title="Pricing assistant", analytics_enabled=False) as demo:
        gr.Markdown("## Pricing assistant\nPrices you can defend: a suggestion, its evidence, "
                    "your guardrails and a checked explanation.")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                chat_state = gr.State(None)
                chatbot = gr.Chatbot(label="Assistant", height=600, elem_id="chat",
                                     feedback_options=("Like", "Dislike"),
                                     placeholder="Ask: *what should I charge for boAt Rockerz 450 "
                                                 "headphones? my cost is 900* — or give a product id.")
                with gr.Row():
                    msg = gr.Textbox(show_label=False, scale=8, elem_id="chat-input", lines=1,
                                     placeholder="Describe a product, give its id, or ask a follow-up "
                                                 "(why? · what if I charge … · show competitors)")
                    send = gr.Button("Send", variant="primary", scale=1, elem_id="chat-send")
                with gr.Row(elem_classes="feedback-row"):
                    chat_comment = gr.Textbox(label="Comment on the last suggestion (optional)", scale=6,
                                              elem_id="chat-comment")
                    chat_up = gr.Button("✓ Good suggestion", scale=1, elem_id="chat-up")
                    chat_down = gr.Button("✗ Not right", scale=1, elem_id="chat-down")
                    clear = gr.Button("New chat", scale=1, elem_id="chat-clear")
                chat_status = gr.Markdown(elem_id="chat-feedback-status", line_breaks=True)

                send.click(chat_submit, [msg, chat_state], [chatbot, chat_state, msg])
                msg.submit(chat_submit, [msg, chat_state], [chatbot, chat_state, msg])
                chatbot.like(chat_like, [chat_state, chat_comment], [chat_status])
                chat_up.click(chat_feedback(True), [chat_state, chat_comment], [chat_status, chat_comment])
                chat_down.click(chat_feedback(False), [chat_state, chat_comment], [chat_status, chat_comment])
                clear.click(chat_clear, None, [chatbot, chat_state, msg, chat_status])

            with gr.Tab("Workspace", id="workspace"):
                ws_state = gr.State(None)   # the last suggestion id, for feedback
                with gr.Row():
                    with gr.Column(scale=2):
                        ws_pid = gr.Textbox(label="Product id (optional: a catalog product; fills "
                                                  "empty fields, enables the demand what-if)",
                                            elem_id="ws-product-id")
                        title = gr.Textbox(label="Title * (from the catalog when a product id is given)",
                                           elem_id="ws-title")
                        description = gr.Textbox(label="Description", lines=3, elem_id="ws-description")
                        category = gr.Dropdown(choices=[""] + categories, value="", label="Category",
                                               allow_custom_value=True, filterable=True,
                                               elem_id="ws-category")
                        brand = gr.Textbox(label="Brand", elem_id="ws-brand")
                        with gr.Row():
                            cost = gr.Number(label="Unit cost", elem_id="ws-cost")
                            current = gr.Number(label="Current price (0 = none)", elem_id="ws-current")
                            currency = gr.Dropdown(choices=currencies, value=default_currency,
                                                   label="Currency", elem_id="ws-currency")
                        with gr.Accordion("Guardrails", open=True):
                            with gr.Row():
                                min_margin = gr.Number(label="Minimum margin over cost (%)",
                                                       elem_id="ws-min-margin")
                                max_change = gr.Number(label="Maximum change from current (%, 0 = no limit)",
                                                       elem_id="ws-max-change")
                            with gr.Row():
                                map_price = gr.Number(label="MAP, minimum advertised price (0 = none)",
                                                      elem_id="ws-map")
                                ceiling = gr.Number(label="Ceiling (0 = none)", elem_id="ws-ceiling")
                            ending = gr.Radio(choices=ENDINGS, value="none", label="Price ending",
                                              elem_id="ws-ending")
                        whatif = gr.Number(label="What-if price (0 = none; marked on the demand plot)",
                                           elem_id="ws-whatif")
                        go = gr.Button("Suggest a price", variant="primary", elem_id="ws-go")
                    with gr.Column(scale=3):
                        card = gr.Markdown("Fill in the form and press **Suggest a price**.",
                                           elem_id="ws-card", line_breaks=True)
                        with gr.Row(elem_classes="feedback-row"):
                            ws_comment = gr.Textbox(label="Comment (optional)", scale=6, elem_id="ws-comment")
                            ws_up = gr.Button("✓ Good", scale=1, elem_id="ws-up")
                            ws_down = gr.Button("✗ Not right", scale=1, elem_id="ws-down")
                        ws_status = gr.Markdown(elem_id="ws-feedback-status")
                        plot_cmp = gr.Plot(label="Comparables' prices", format="png",
                                           elem_id="ws-plot-comparables")
                        plot_comp = gr.Plot(label="Competitor prices", format="png",
                                            elem_id="ws-plot-competitors")
                        demand_note = gr.Markdown(elem_id="ws-demand-note")
                        plot_demand = gr.Plot(label="Demand what-if", format="png",
                                              elem_id="ws-plot-demand")
                with gr.Accordion("Evidence tables", open=False):
                    df_cmp = gr.Dataframe(label="Comparable products", interactive=False,
                                          elem_id="ws-comparables", wrap=True)
                    df_comp = gr.Dataframe(label="Competitor offers", interactive=False,
                                           elem_id="ws-competitors")
                    df_guard = gr.Dataframe(label="Guardrails applied", interactive=False,
                                            elem_id="ws-guardrails", wrap=True)
                form = [title, description, category, brand, cost, current, currency, min_margin,
                        map_price, ceiling, max_change, ending, ws_pid, whatif, ws_state]
                go.click(ws_suggest, form,
                         [card, plot_cmp, plot_comp, df_cmp, df_comp, df_guard, ws_state, ws_status,
                          demand_note, plot_demand])
                ws_up.click(ws_feedback(True), [ws_state, ws_comment], [ws_status, ws_comment])
                ws_down.click(ws_feedback(False), [ws_state, ws_comment], [ws_status, ws_comment])

            # More tabs (e.g. graph curation: "Curate") render here, after Workspace.
            for render_tab in extra_tabs:
                render_tab(service)
    return demo


def mount(app: Any, service: Any, path: str = "/ui",
          extra_tabs: Sequence[Callable[[Any], None]] = (), **kwargs: Any) -> Any:
    """Serve the UI inside a FastAPI app (e.g. the REST API's) at `path`; returns the app.
    extra_tabs go to build_ui; other kwargs to gr.mount_gradio_app."""
    kwargs.setdefault("ssr_mode", False)
    kwargs.setdefault("css", CSS)
    return gr.mount_gradio_app(app, build_ui(service, extra_tabs=extra_tabs), path=path, **kwargs)


def main() -> None:  # pragma: no cover - manual entry point
    from assistant.service import PricingService
    from assistant.settings import Settings

    build_ui(PricingService.from_settings(Settings())).launch(server_name="127.0.0.1", share=False, ssr_mode=False,
                                              css=CSS)


if __name__ == "__main__":  # pragma: no cover
    main()
