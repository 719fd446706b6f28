"""The Workspace tab: a form for one product, the suggestion card, its evidence and a demand what-if.

Use::

    from assistant.web.workspace_tab import workspace_tab, workspace_inputs, demand_panel
    with gr.Blocks(), gr.Tabs():
        workspace_tab(service, agent)          # renders the tab (inside build_ui's tab bar)
    product, policy, errors = workspace_inputs("Kettle", None, None, None, 10, 0, "INR",
                                               20, 0, 0, 15, ".99")   # the form, checked
    figure, note = demand_panel(service, suggestion, candidate=99.0, cost=10.0)

API (``gradio_client``): ``/suggest`` takes the form's fields and answers the suggestion card,
both evidence figures, the three evidence tables and the demand what-if; ``/what_if`` takes a
what-if price and the unit cost and redraws the demand what-if for the session's last
suggestion. Feedback buttons are UI-only (the REST API's ``/v1/feedback`` takes feedback).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol

import gradio as gr
import pandas as pd
from matplotlib.figure import Figure
from pydantic import ValidationError

from assistant.chat import ChatAgent, ChatSession
from assistant.facts import format_money
from assistant.guardrails import GuardrailConflict, GuardrailPolicy
from assistant.suggestion import Suggestion, SuggestOptions, WhatIfCurve, WhatIfResult
from assistant.suggestion_store import UnknownSuggestion
from assistant.web.approvals_tab import apply_message
from assistant.web.feedback import save_feedback
from assistant.web.login import UiLogin, user_of
from assistant.web.plots import category_band, comparables_figure, competitors_figure, demand_figure
from graph.contracts import ProductIn

if TYPE_CHECKING:
    from assistant.pricebook import PriceBook
    from assistant.service import PricingService

CURRENCY_CHOICES = ["INR", "GBP", "BRL", "USD", "EUR"]
ENDINGS = [("no ending", "none"), (".99", ".99"), ("whole, ending in 9", "9")]
# Field names in validation errors -> the labels the merchant sees on the form.
FIELD_LABELS = {"title": "Title", "description": "Description", "category_path": "Category",
                "brand": "Brand", "cost": "Unit cost", "price": "Current price", "currency": "Currency",
                "min_margin": "Minimum margin", "map_price": "MAP", "ceiling": "Ceiling",
                "max_change": "Maximum change", "ending": "Price ending"}
DEMAND_POINTS = 41


class DemandSource(Protocol):
    """What the demand what-if needs from the service."""

    products: pd.DataFrame

    def what_if(self, product_id: str, price: float, cost: float | None = None) -> WhatIfResult: ...

    def what_if_curve(self, product_id: str, lo: float | None = None, hi: float | None = None,
                      n: int = 21, cost: float | None = None) -> WhatIfCurve: ...


# ----------------------------------------------------------------------------- the form
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


# ----------------------------------------------------------------------------- evidence
def evidence_tables(s: Suggestion) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(comparables, competitor offers, guardrails applied) as the tab's tables."""
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


def evidence_figures(s: Suggestion) -> tuple[Figure, Figure]:
    """(comparables' prices, competitor prices), each marking the suggested price."""
    ev = s.evidence
    f1 = comparables_figure([c.price for c in ev.comparables], s.recommended_price,
                            s.interval.low, s.interval.high, s.currency, category_band(s))
    f2 = competitors_figure([(c.competitor, c.price) for c in ev.competitors], s.recommended_price,
                            s.current_price, s.currency)
    return f1, f2


def demand_panel(service: DemandSource, s: Suggestion, candidate: float | None = None,
                 cost: float | None = None) -> tuple[Figure | None, str]:
    """The workspace's what-if: (figure, note) for a suggestion's catalog product with sales
    history, else (None, a message saying why there is no curve). The curve spans the prices
    the product sold at (±10%) and the current, suggested and what-if prices; with a what-if
    price the note also gives the expected units and profit (or revenue) there."""
    pid = s.product_id
    if not pid or pid not in service.products.index:
        return None, ("**Demand what-if:** give a catalog *Product id* with sales history to "
                      "see expected units and profit against price.")
    try:
        base = service.what_if_curve(pid, n=2, cost=cost)   # the observed range, cheaply
        e = base.elasticity
        prices = [base.points[0].price, base.points[-1].price, s.current_price,
                  s.recommended_price, candidate]
        prices = [float(p) for p in prices if p]
        curve = service.what_if_curve(pid, min(prices) * 0.95, max(prices) * 1.05,
                                      DEMAND_POINTS, cost=cost)
        at = service.what_if(pid, candidate, cost=cost) if candidate else None
    except ValueError as exc:  # NoSalesHistory: no demand model, or no usable history
        why = re.sub(r"^product '[^']*': ", "", str(exc))
        return None, f"**Demand what-if:** not available for `{pid}` — {why}."
    period = curve.points[0].period_days if curve.points else None
    period_word = "month" if period and 27 <= period <= 31 else f"{period:g} days"
    fig = demand_figure(curve.points, current=s.current_price, recommended=s.recommended_price,
                        candidate=candidate, currency=s.currency,
                        observed=(e["observed_low"], e["observed_high"])
                        if e.get("observed_low") and e.get("observed_high") else None,
                        period=period_word)
    note = (f"**Demand what-if** for `{pid}`: price elasticity {e['beta']:+.2f} "
            f"({e['level']:.0%} interval {e['low']:+.2f} to {e['high']:+.2f}, source "
            f"{e['source']}); shaded bands are {curve.points[0].level:.0%} intervals.")
    if at is not None and at.units is not None:
        money, what = ((at.profit, "profit") if at.profit is not None else (at.revenue, "revenue"))
        note += (f" At {format_money(at.price, s.currency)}: about {at.units:,.1f} units per "
                 f"{period_word} ({at.units_low:,.1f} to {at.units_high:,.1f})"
                 + (f", {what} {format_money(money, s.currency)}" if money is not None else "")
                 + (" — outside the prices it sold at" if at.extrapolated else "") + ".")
    if curve.cost is None:
        note += " Give a unit cost to see profit instead of revenue."
    return fig, note


# ----------------------------------------------------------------------------- the tab
def workspace_tab(service: PricingService, agent: ChatAgent, k_comparables: int = 20,
                  pricebook: PriceBook | None = None, login: UiLogin | None = None) -> None:
    """Render the Workspace tab (inside a ``gr.Tabs``). k_comparables: comparables fetched
    per suggestion (enough for a distribution). pricebook: the price list the "Apply" button
    sends the suggestion to (no button without one); login: whose name the applied price is
    recorded under (the signed-in user; without a login, ``merchant:ui``)."""
    categories = sorted({str(c) for c in service.products["category_path"].dropna() if str(c).strip()})
    default_currency = service.default_currency
    currencies = CURRENCY_CHOICES if default_currency in CURRENCY_CHOICES else \
        [default_currency] + CURRENCY_CHOICES

    def suggest(title, description, category, brand, cost, current_price, currency, min_margin,
                map_price, ceiling, max_change, ending, product_id, what_if_price):
        """Suggest a price for the form's product; with a catalog product id, what the form
        leaves empty comes from the catalog and the demand what-if is drawn."""
        empty = (None, None, None, None, None)
        pid = (product_id or "").strip()
        errors: list[str] = []
        if pid:  # a catalog product: what the form leaves empty comes from the catalog
            if pid not in service.products.index:
                errors.append(f"Product id: `{pid}` is not in the catalog.")
            else:
                rec = service.product(pid)
                title = title if (title or "").strip() else rec.get("title")
                current_price = current_price if _num(current_price) else rec.get("price")
                currency = rec.get("currency") or currency
        candidate = None if _num(what_if_price) in (None, 0) else _num(what_if_price)
        if what_if_price not in (None, "") and (_num(what_if_price) is None or _num(what_if_price) < 0):
            errors.append(f"What-if price: must be a price above 0, got {what_if_price!r}.")
        product, policy, form_errors = (workspace_inputs(title, description, category, brand, cost,
                                                         current_price, currency, min_margin, map_price,
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
            reply = agent.conflict_reply(exc, ChatSession(currency=product.currency or default_currency),
                                         "workspace")
            return ("### ⚠ No suggestion — your guardrails contradict each other\n" + reply.text,
                    *empty, None, "", "", None)
        except ValueError as exc:  # e.g. a price the guardrails cannot take
            gr.Warning(str(exc))
            return f"### ⚠ No suggestion\n- {exc}", *empty, None, "", "", None
        reply = agent.describe(s, cost=product.cost)
        card = reply.text + f"\n\n<sub>suggestion `{s.suggestion_id}` · model {s.model_version}</sub>"
        f1, f2 = evidence_figures(s)
        cmp, comp, guard = evidence_tables(s)
        f3, note = demand_panel(service, s, candidate, product.cost)
        return card, f1, f2, cmp, comp, guard, s.suggestion_id, "", note, f3

    def what_if(suggestion_id: str | None, what_if_price: Any, cost: Any):
        """Redraw the demand what-if of the last suggestion at another what-if price."""
        if not suggestion_id:
            return "**Demand what-if:** suggest a price first.", None
        candidate = _num(what_if_price)
        if what_if_price not in (None, "") and (candidate is None or candidate < 0):
            return f"**Demand what-if:** the what-if price must be above 0, got {what_if_price!r}.", None
        try:
            s = service.store.get_suggestion(suggestion_id)
        except UnknownSuggestion:
            return f"**Demand what-if:** suggestion `{suggestion_id}` is not in the store.", None
        c = _num(cost)
        fig, note = demand_panel(service, s, candidate or None, c if c is not None and c >= 0 else None)
        return note, fig

    def feedback(liked: bool):
        def fn(suggestion_id: str | None, comment: str):
            return save_feedback(service.store, suggestion_id, liked, comment), ""
        return fn

    with gr.Tab("Workspace", id="workspace"):
        ws_state = gr.State(None)   # the last suggestion id, for feedback and the what-if
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
                        min_margin = gr.Number(label="Minimum margin, % of the price ((price − cost) / price)",
                                               elem_id="ws-min-margin")
                        max_change = gr.Number(label="Maximum change from current (%, 0 = no limit)",
                                               elem_id="ws-max-change")
                    with gr.Row():
                        map_price = gr.Number(label="MAP, minimum advertised price (0 = none)",
                                              elem_id="ws-map")
                        ceiling = gr.Number(label="Ceiling (0 = none)", elem_id="ws-ceiling")
                    ending = gr.Radio(choices=ENDINGS, value="none", label="Price ending",
                                      elem_id="ws-ending")
                with gr.Row(elem_classes="feedback-row"):
                    whatif = gr.Number(label="What-if price (0 = none; marked on the demand plot)",
                                       elem_id="ws-whatif", scale=3)
                    whatif_go = gr.Button("Redraw what-if", scale=1, elem_id="ws-whatif-go")
                go = gr.Button("Suggest a price", variant="primary", elem_id="ws-go")
            with gr.Column(scale=3):
                # Labels name the API's outputs (gradio_client); the UI hides them.
                card = gr.Markdown("Fill in the form and press **Suggest a price**.", label="suggestion",
                                   show_label=False, elem_id="ws-card", line_breaks=True)
                with gr.Row(elem_classes="feedback-row"):
                    ws_comment = gr.Textbox(label="Comment (optional)", scale=6, elem_id="ws-comment")
                    ws_up = gr.Button("✓ Good", scale=1, elem_id="ws-up")
                    ws_down = gr.Button("✗ Not right", scale=1, elem_id="ws-down")
                    ws_apply = gr.Button("Apply this price", scale=1, variant="primary",
                                         elem_id="ws-apply", visible=pricebook is not None)
                ws_status = gr.Markdown(label="feedback status", show_label=False,
                                        elem_id="ws-feedback-status")
                plot_cmp = gr.Plot(label="Comparables' prices", format="png",
                                   elem_id="ws-plot-comparables")
                plot_comp = gr.Plot(label="Competitor prices", format="png",
                                    elem_id="ws-plot-competitors")
                demand_note = gr.Markdown(label="demand what-if note", show_label=False,
                                          elem_id="ws-demand-note")
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
                map_price, ceiling, max_change, ending, ws_pid, whatif]
        go.click(suggest, form,
                 [card, plot_cmp, plot_comp, df_cmp, df_comp, df_guard, ws_state, ws_status,
                  demand_note, plot_demand], api_name="suggest")
        gr.on([whatif_go.click, whatif.submit], what_if, [ws_state, whatif, cost],
              [demand_note, plot_demand], api_name="what_if")
        ws_up.click(feedback(True), [ws_state, ws_comment], [ws_status, ws_comment],
                    api_visibility="private")
        ws_down.click(feedback(False), [ws_state, ws_comment], [ws_status, ws_comment],
                      api_visibility="private")
        # applies at once within the approval policy, else queues for the Approvals tab
        def apply(sid, request: gr.Request):
            user = user_of(login, request)
            if user is not None and not user.may("apply"):
                return f"⚠ {user.name} ({user.role}) may not apply prices."
            return apply_message(pricebook, service.store, sid,
                                 user.actor if user is not None else "merchant:ui")

        ws_apply.click(apply, [ws_state], [ws_status], api_visibility="private")
