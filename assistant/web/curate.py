"""The Curate tab: domain experts fix the knowledge graph in the browser, every edit audited.

Use::

    from assistant.web.app import mount
    from assistant.web.curate import curate_tab, curate_tab_for
    mount(app, service, "/ui", extra_tabs=[curate_tab_for(settings)])  # what `pricing serve` does
    build_ui(service, extra_tabs=[curate_tab])                          # open editing, no keys

    desk = CurateDesk(service, curator_keys=None)     # the callbacks, usable without a browser
    desk.search("brand", "boat")                      # DataFrame: id, type, name, degree
    view = desk.load("brand:boat")                    # NodeView: details, figure, edges, version
    out = desk.edit(view.id, view.version, "Rename", value="boAt", who="alice", dry_run=True)
    out.message, out.impact                           # preview: products and prices that move
    desk.revert(out.audit_id, who="alice")            # after a commit

What the tab offers: search nodes by type and text; a node's details and its neighbourhood
drawn as a picture (typed colours); edit forms (rename, set an attribute such as price or
cost, link category/brand, add/remove a competitor offer, merge brands or categories, move a
category, delete); a dry-run impact preview (the products whose graph features change and how
their model prices move); commit; the audit trail with revert; the quality worklist, where
picking a row loads that node.

Every edit goes through the same path as the ``/v1/graph`` API: the service's one
:class:`assistant.curation.CurationService` (``service.curation``: one worker thread holding a
:class:`graph.curation.Curator`, model-price previews for dry runs, and a committed edit
refreshes the live service before the answer is shown). Search, node details, the audit
trail and the quality worklist come from it too, so the tab and the API rank and list alike.
Refusals (validation, stale versions, reverts that no longer apply) are shown as the
Curator's own message, never a traceback. Edits carry the version of the node as loaded, so
an edit made meanwhile by someone else is refused as a conflict instead of overwritten.

Who may edit: behind the UI's login (:mod:`assistant.web.login`, as ``pricing serve`` mounts
it), previews, commits, reverts and match decisions need a signed-in curator, recorded as
``curator:<name>`` like the API's edits. Without a login, ``curator_keys=None`` (a server
without auth) lets anyone who gives a curator name preview and commit; otherwise they also
need one of the server's curator API keys typed into the tab (an empty set: the tab is
read-only). The audit actor is then ``ui:<name>``.
"""
from __future__ import annotations

import hmac
import logging
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import gradio as gr
import networkx as nx
import pandas as pd
from matplotlib.figure import Figure

from assistant.curation import CurationService, GraphStoreMissing
from assistant.web.login import NotAllowed, UiLogin, User, user_of
from assistant.web.matches import matches_view
from graph.curation import ConflictError, CurationError, CurationResult

if TYPE_CHECKING:
    from assistant.service import PricingService

log = logging.getLogger(__name__)

SEARCH_TYPES = ["any", "product", "category", "brand", "competitor"]
TYPE_COLORS = {"product": "#5b7db1", "category": "#1f7a4d", "brand": "#d08c2f",
               "competitor": "#b0413e", "review": "#a0a0a0"}
_TYPE_ORDER = {"category": 0, "brand": 1, "competitor": 2, "product": 3, "review": 4}

# Edit form: action label -> (Curator op, node types it applies to, label of the value box;
# None = no value box).
ACTIONS: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "Rename": ("rename_node", ("product", "category", "brand", "competitor"), "New name"),
    "Set attribute": ("update_node", ("product", "category", "brand", "competitor"),
                      "New value (empty: remove the attribute)"),
    "Link category": ("link_category", ("product",), "Leaf category path (A > B > C)"),
    "Link brand": ("link_brand", ("product",), "Brand name"),
    "Add competitor offer": ("add_offer", ("product", "competitor"),
                             "Product id (when a competitor is loaded)"),
    "Remove competitor offer": ("remove_offer", ("product", "competitor"),
                                "Product id (when a competitor is loaded)"),
    "Merge into": ("merge_nodes", ("category", "brand"),
                   "Merge into: the brand or category (id or name) that stays"),
    "Move category under": ("reparent_category", ("category",),
                            "New parent category path (empty: make it a root)"),
    "Unlink category": ("unlink_category", ("product",), None),
    "Unlink brand": ("unlink_brand", ("product",), None),
    "Delete node": ("delete_node", ("product", "category", "brand", "competitor"), None),
}
OFFER_ACTIONS = ("Add competitor offer", "Remove competitor offer")
ATTRIBUTES = ["price", "cost", "currency", "title", "description", "condition", "rating",
              "rating_count"]
_NUMERIC = {"price", "cost", "rating", "rating_count", "shipping"}
_AUDIT_COLUMNS = ["id", "at", "actor", "op", "what", "reason", "reverts", "reverted by"]
_IMPACT_COLUMNS = ["product", "price before", "price after", "change %", "title",
                   "features changed"]
_WORKLIST_COLUMNS = ["check", "node", "detail"]
_EDGE_COLUMNS = ["direction", "edge", "node", "name", "attributes"]
INTRO = ("### Curate the knowledge graph\nSearch a node, look at its neighbourhood, edit it, "
         "**preview the impact** on suggested prices, then commit. **Every commit and revert "
         "is audited** — your name, the time, what changed (before and after) and your reason "
         "are kept in the audit trail below, and any entry can be reverted. Committed edits "
         "change live suggestions at once.")


class FormError(ValueError):
    """The edit form is incomplete or malformed; the message names the form field."""


@dataclass
class NodeView:
    """A loaded node: what the tab shows and what an edit needs (id, type, version)."""

    id: str | None
    type: str | None
    version: int | None
    details: str
    figure: Figure | None
    edges: pd.DataFrame


@dataclass
class EditOutcome:
    """What an edit (preview or commit) did, worded for the curator."""

    ok: bool
    message: str
    impact: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_IMPACT_COLUMNS))
    audit_id: int | None = None
    node: str | None = None       # the edited node's id afterwards (renames re-key)


# --------------------------------------------------------------------------- the picture

def _label(g: nx.MultiDiGraph, n: str, width: int = 26) -> str:
    d = g.nodes[n]
    t = d.get("type")
    if t == "category":
        text = str(d.get("path") or d.get("name") or n).split(">")[-1].strip()
    elif t == "review":
        text = "review"
    else:
        text = str(d.get("name") or n.partition(":")[2])
    return text if len(text) <= width else text[:width - 1] + "…"


def neighbourhood_figure(g: nx.MultiDiGraph, node: str, max_neighbours: int = 30) -> Figure:
    """The node, its neighbours (both directions; categories, brands and competitors first,
    then products and reviews, at most ``max_neighbours``) and the edges among them, laid out
    by networkx's spring layout with the node fixed in the centre; colours by node type."""
    fig = Figure(figsize=(7.5, 5.2), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.set_axis_off()
    if node not in g:
        ax.text(0.5, 0.5, f"{node} is not in the graph", ha="center", va="center",
                transform=ax.transAxes, color="#555555")
        return fig
    kinds: dict[str, set[str]] = {}
    for _, v, d in g.out_edges(node, data=True):
        kinds.setdefault(v, set()).add(str(d.get("type")))
    for u, _, d in g.in_edges(node, data=True):
        kinds.setdefault(u, set()).add(str(d.get("type")))
    kinds.pop(node, None)
    order = sorted(kinds, key=lambda n: (_TYPE_ORDER.get(g.nodes[n].get("type"), 9),
                                         _label(g, n)))
    shown = order[:max_neighbours]
    h = nx.Graph()
    h.add_node(node)
    for v in shown:
        h.add_edge(node, v, label="/".join(sorted(kinds[v])))
    keep = set(shown)
    for u in shown:  # context: a category's parent, products of a shown category, ...
        for v, kd in g.succ[u].items():
            if v in keep and v != u:
                h.add_edge(u, v, label="/".join(sorted({str(x.get("type")) for x in kd.values()})))
    pos = (nx.spring_layout(h, seed=0, pos={node: (0.0, 0.0)}, fixed=[node],
                            k=1.6 / math.sqrt(len(h)))
           if len(h) > 1 else {node: (0.0, 0.0)})
    for u, v, d in h.edges(data=True):
        (x0, y0), (x1, y1) = pos[u], pos[v]
        central = node in (u, v)
        ax.plot([x0, x1], [y0, y1], color="#888888" if central else "#cccccc",
                lw=1.2 if central else 0.8, zorder=1)
        if central and len(shown) <= 15:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2, d["label"], fontsize=7, color="#666666",
                    ha="center", va="center", zorder=2)
    present = []
    for n in h.nodes:
        t = g.nodes[n].get("type")
        if t not in present:
            present.append(t)
        x, y = pos[n]
        ax.scatter([x], [y], s=420 if n == node else 160, color=TYPE_COLORS.get(t, "#444444"),
                   edgecolors="black" if n == node else "white", linewidths=1.5, zorder=3)
        ax.text(x, y - 0.09, _label(g, n), fontsize=9 if n == node else 7.5, ha="center",
                va="top", zorder=4, fontweight="bold" if n == node else "normal")
    for t in sorted(present, key=lambda t: _TYPE_ORDER.get(t, 9)):
        ax.scatter([], [], s=60, color=TYPE_COLORS.get(t, "#444444"), label=t)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    more = f" (first {len(shown)} of {len(kinds)})" if len(kinds) > len(shown) else ""
    ax.set_title(f"{_label(g, node, 60)} · {g.nodes[node].get('type')} · "
                 f"{len(kinds)} neighbours{more}", fontsize=10)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.25, max(xs) + 0.25)
    ax.set_ylim(min(ys) - 0.25, max(ys) + 0.2)
    return fig


# --------------------------------------------------------------------------- form -> operation

def _number_or_text(text: Any) -> Any:
    """Form text as the Curator expects it: numbers as numbers; anything else as given, so
    that the Curator's own message names what is wrong with it."""
    if text is None or isinstance(text, (int, float)):
        return text
    s = str(text).strip()
    try:
        x = float(s)
    except ValueError:
        return s
    return int(x) if x.is_integer() and "." not in s else x


def build_edit(node: str | None, node_type: str | None, action: str | None, value: Any = None,
               attribute: str | None = None, competitor: str | None = None,
               price: Any = None, currency: str | None = None, observed_at: str | None = None,
               replace: bool = False) -> tuple[str, dict]:
    """The Curator operation and its arguments for one filled-in edit form.

    Raises FormError naming the form field when something the action needs is missing.
    """
    if not node:
        raise FormError("Node: load a node first (search, or type its id and press Load).")
    if action not in ACTIONS:
        raise FormError(f"Edit: choose what to do (one of {', '.join(ACTIONS)}).")
    op, types, value_label = ACTIONS[action]
    if node_type not in types:
        raise FormError(f"Edit: {action!r} does not apply to a {node_type} "
                        f"(it works on: {', '.join(types)}).")
    text = "" if value is None else str(value).strip()

    def need(what: str) -> str:
        if not text:
            raise FormError(f"{value_label}: required for {action!r}{what}.")
        return text

    if op == "rename_node":
        return op, {"node": node, "new_name": need("")}
    if op == "update_node":
        name = (attribute or "").strip()
        if not name:
            raise FormError("Attribute: choose the attribute to set (e.g. price, cost).")
        v = None if not text else (_number_or_text(text) if name in _NUMERIC else text)
        return op, {"node": node, "changes": {name: v}}
    if op in ("link_category", "link_brand"):
        return op, {"product": node, ("category" if op == "link_category" else "brand"): need("")}
    if op in ("add_offer", "remove_offer"):
        if node_type == "competitor":
            kid, product = node, need(" on a competitor: the product's id")
        else:
            kid, product = (competitor or "").strip(), node
            if not kid:
                raise FormError("Competitor: required — the competitor whose offer this is.")
        obs = (observed_at or "").strip() or None
        if op == "remove_offer":
            return op, {"competitor": kid, "product": product, "observed_at": obs}
        if price is None or (isinstance(price, str) and not price.strip()):
            raise FormError("Offer price: required — the competitor's price.")
        if not (currency or "").strip():
            raise FormError("Currency: required — an ISO code such as INR or GBP.")
        return op, {"competitor": kid, "product": product, "price": _number_or_text(price),
                    "currency": currency.strip(), "observed_at": obs, "replace": bool(replace)}
    if op == "merge_nodes":
        return op, {"source": node, "target": need("")}
    if op == "reparent_category":
        return op, {"category": node, "new_parent": text or None}
    if op in ("unlink_category", "unlink_brand"):
        return op, {"product": node}
    return op, {"node": node}  # delete_node: edges are never removed silently (no cascade)


def actions_for(node_type: str | None) -> list[str]:
    """The edit actions that apply to a node type (the choices the form shows)."""
    return [a for a, (_, types, _) in ACTIONS.items() if node_type in types]


def field_visibility(action: str | None, node_type: str | None = None) -> dict[str, Any]:
    """Which form fields an action uses on a node type: the value box (and its label), the
    attribute picker, the offer fields (an offer on a product needs no value box)."""
    _, _, label = ACTIONS.get(action or "", ("", (), "Value"))
    offer = action in OFFER_ACTIONS
    return {"value": label is not None and not (offer and node_type == "product"),
            "value_label": label or "Value", "attribute": action == "Set attribute",
            "offer": offer}


# --------------------------------------------------------------------------- the callbacks

def _money(x: Any) -> str:
    return "—" if x is None else f"{x:,.2f}"


def _short(v: Any, width: int = 160) -> str:
    s = str(v)
    return s if len(s) <= width else s[:width - 1] + "…"


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=columns)


def _has_type_prefix(ref: str) -> bool:
    return ref.partition(":")[0] in _TYPE_ORDER and ":" in ref


def _what(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()
                     if v not in (None, False, {}, "") and k != "attrs")[:100]


class CurateDesk:
    """Everything the Curate tab does, as plain methods (the tab only wires them to widgets).

    ``curator_keys``: None lets anyone with a curator name edit (a server without auth); a
    collection of curator API keys makes previews, commits and reverts ask for one of them.
    """

    def __init__(self, service: PricingService, curator_keys: Collection[str] | None = None
                 ) -> None:
        self.service = service
        self.curator_keys = None if curator_keys is None else list(curator_keys)

    @property
    def curation(self) -> CurationService:
        """The service's one curation service (shared with the API)."""
        return self.service.curation

    @property
    def can_edit(self) -> bool:
        return self.curator_keys is None or bool(self.curator_keys)

    # ------------------------------------------------------------------ reading
    def search(self, node_type: str | None, text: str | None, limit: int = 50) -> pd.DataFrame:
        """Nodes whose normalised name or id contains ``text`` (exact, then prefix, then the
        best connected first; reviews left out), as :meth:`CurationService.search` ranks them."""
        found = self.curation.search(text, node_type, limit)
        return pd.DataFrame([{"id": h.id, "type": h.type, "name": h.name or "",
                              "degree": h.degree} for h in found.hits],
                            columns=["id", "type", "name", "degree"])

    def load(self, node: str | None, max_edges: int = 200) -> NodeView:
        """A node's details (with the version edits check against), picture and edges."""
        empty = _empty(_EDGE_COLUMNS)
        nid = (node or "").strip()
        if not nid:
            return NodeView(None, None, None, "Search for a node or type its id, then Load.",
                            None, empty)
        out = self.curation.node(nid, max_edges)
        if out is None:
            return NodeView(None, None, None, f"⚠ No node `{nid}`. Node ids look like "
                            "`brand:boat`, `category:Toys > Puzzles`, `product:B07X` — search "
                            "by name to find one.", None, empty)
        attrs = "\n".join(f"- **{k}**: {_short(v)}" for k, v in sorted(out.attrs.items())
                          if v is not None and k != "reviews") or "- (no attributes)"
        ver = "" if out.version is None else f" · version {out.version}"
        details = (f"**{out.id}** · {out.type}{ver} · {out.n_out} out / {out.n_in} in edges\n"
                   f"{attrs}\n\n<sub>provenance: {out.provenance or '—'} · updated "
                   f"{out.updated_at or '—'}</sub>")
        rows = [{"direction": d, "edge": e.type, "node": e.node, "name": e.name or "",
                 "attributes": ", ".join(f"{k}={v}" for k, v in e.attrs.items())}
                for d, es in (("out", out.out_edges), ("in", out.in_edges)) for e in es]
        return NodeView(out.id, out.type, out.version, details,
                        neighbourhood_figure(self.service.graph, out.id),
                        pd.DataFrame(rows, columns=list(empty.columns)))

    def audit(self, node: str | None = None, limit: int = 50) -> pd.DataFrame:
        """The audit trail, newest first (``node``: only entries that touched it)."""
        rows = [{"id": e.id, "at": e.at[:19].replace("T", " "), "actor": e.actor, "op": e.op,
                 "what": _what(e.params), "reason": e.reason or "",
                 "reverts": "" if e.reverts is None else f"#{e.reverts}",
                 "reverted by": "" if e.reverted_by is None else f"#{e.reverted_by}"}
                for e in self.curation.audit(node=node or None, limit=limit).entries]
        return pd.DataFrame(rows, columns=_AUDIT_COLUMNS)

    def worklist(self, per_check: int = 30) -> pd.DataFrame:
        """The quality worklist (:func:`graph.quality.quality_report`) as rows of (check,
        node id, detail), at most ``per_check`` per check."""
        return pd.DataFrame([asdict(w) for w in self.curation.worklist(per_check)],
                            columns=_WORKLIST_COLUMNS)

    @staticmethod
    def pick(row: Any) -> tuple[str | None, str | None, str]:
        """A worklist row -> (node id to load, suggested action, suggested value): a
        duplicate brand suggests merging it into its look-alike."""
        vals = list(row) if row is not None else []
        if len(vals) < 2 or not vals[1]:
            return None, None, ""
        check, nid, detail = (list(vals) + [""])[:3]
        if check == "duplicate brands" and str(detail).startswith("looks like "):
            other = str(detail)[len("looks like "):].split(",")[0].split(" (")[0].strip()
            return str(nid), "Merge into", other
        return str(nid), None, ""

    # ------------------------------------------------------------------ editing
    def _authorise(self, who: str | None, key: str | None, committing: bool,
                   user: User | None = None) -> str:
        """The audit actor, or FormError saying what is missing. ``user``: the signed-in
        user (the login decides; ``who`` and ``key`` are not used)."""
        if user is not None:
            try:
                return user.require("edit_graph")
            except NotAllowed as exc:
                raise FormError(str(exc)) from None
        name = (who or "").strip()
        if self.curator_keys is not None:
            if not self.curator_keys:
                raise FormError("Editing is off in this UI: the server has no curator keys. "
                                "Use a curator API key with /v1/graph, or start the server "
                                "with one (PRICING_API_KEYS=key:curator).")
            given = (key or "").strip().encode("utf-8", "surrogatepass")
            # every key compared, no early exit: the time says nothing about which matched
            matches = [hmac.compare_digest(given, k.encode("utf-8", "surrogatepass"))
                       for k in self.curator_keys]
            if not any(matches):
                raise FormError("Curator key: give a curator API key of this server — "
                                "edits from the UI need the same rights as /v1/graph.")
        if committing and not name:
            raise FormError("Curator name: required — every commit is audited under it.")
        if len(name) > 80:
            raise FormError("Curator name: at most 80 characters.")
        return f"ui:{name}" if name else "ui:preview"

    def _failure(self, exc: Exception, doing: str) -> EditOutcome:
        if isinstance(exc, FormError):
            return EditOutcome(False, f"⚠ **Not {doing}** — {exc}")
        if isinstance(exc, ConflictError):
            return EditOutcome(False, f"⚠ **Conflict — not {doing}.** {exc}. Someone changed "
                                      "it after you loaded it: press Load to see the current "
                                      "version, then redo the edit.")
        if isinstance(exc, CurationError):
            return EditOutcome(False, f"⚠ **Refused — not {doing}.** {exc}")
        if isinstance(exc, GraphStoreMissing):
            return EditOutcome(False, f"⚠ **Not {doing}** — this server has no graph store "
                                      "(start it with --db / PRICING_GRAPH_DB to curate).")
        log.exception("curation from the UI failed")
        return EditOutcome(False, f"⚠ **Not {doing}** — unexpected error "
                                  f"({type(exc).__name__}: {exc}); nothing was changed.")

    def edit(self, node: str | None, version: int | None, action: str | None, *,
             value: Any = None, attribute: str | None = None, competitor: str | None = None,
             price: Any = None, currency: str | None = None, observed_at: str | None = None,
             replace: bool = False, who: str | None = None, key: str | None = None,
             reason: str | None = None, dry_run: bool = True,
             node_type: str | None = None, user: User | None = None) -> EditOutcome:
        """Preview (``dry_run``) or commit one edit of the loaded node at ``version``."""
        doing = "previewed" if dry_run else "saved"
        try:
            actor = self._authorise(who, key, committing=not dry_run, user=user)
            if node and node_type is None and node in self.service.graph:
                node_type = self.service.graph.nodes[node].get("type")
            op, params = build_edit(node, node_type, action, value, attribute, competitor,
                                    price, currency, observed_at, replace)
            expected = {node: int(version)} if version is not None else None
            if op == "merge_nodes" and not _has_type_prefix(params["target"]):
                # a bare name means a node of the loaded node's type ("boAt" -> brand:boat)
                params["target"] = self.curation.resolve(params["target"], node_type)
            r = self.curation.apply(op, params, expected=expected, actor=actor,
                                    reason=(reason or "").strip() or None, dry_run=dry_run)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            return self._failure(exc, doing)
        return self._outcome(r, node)

    def _outcome(self, r: CurationResult, node: str | None) -> EditOutcome:
        counts = ", ".join(f"{n} {k}" for k, n in sorted(r.summary().items())) or "no change"
        impact = self.impact_table(r)
        if r.dry_run:
            n = len(r.impact.products) if r.impact else 0
            moved = int((impact["change %"].fillna(0).abs() > 0).sum()) if len(impact) else 0
            msg = (f"**Preview only — nothing saved.** `{r.op}` would change: {counts}. "
                   f"{n} product(s) get different graph features; {moved} suggested price(s) "
                   f"move (table below). Press **Commit** to apply it.")
            return EditOutcome(True, msg, impact, None, node)
        if r.audit_id is None:
            return EditOutcome(True, f"Nothing to change: `{r.op}` left the graph as it was.",
                               impact, None, node)
        return EditOutcome(True, f"✓ **Saved as audit #{r.audit_id}** (`{r.op}`: {counts}). "
                                 "Live suggestions now use the edited graph.",
                           impact, r.audit_id, self._after_node(r, node))

    def _after_node(self, r: CurationResult, node: str | None) -> str | None:
        """The edited node's id now: renames and merges re-key brands and categories."""
        if node and node in self.service.graph:
            return node
        if r.op == "merge_nodes":
            kept = [n.id for n in r.nodes if n.action == "updated" and n.after is not None
                    and n.type in ("brand", "category")]
            return kept[0] if kept else None
        typ = node.partition(":")[0] if node else None
        added = [n.id for n in r.nodes if n.action == "added" and n.type == typ]
        return added[0] if added else None

    def impact_table(self, r: CurationResult) -> pd.DataFrame:
        """Products whose features or prices a preview moves, biggest price change first."""
        imp = r.impact
        if imp is None:
            return pd.DataFrame(columns=_IMPACT_COLUMNS)
        prices = imp.prices or {}
        ids = sorted(set(imp.products) | set(imp.direct))
        products = self.service.products
        rows = []
        for pid in ids:
            before, after = (prices.get(pid) or [None, None])[:2]
            change = (round(100 * (after - before) / before, 2)
                      if before and after is not None else None)
            title = products.at[pid, "title"] if pid in products.index else ""
            rows.append({"product": pid, "title": _short(title, 32), "price before":
                         before, "price after": after, "change %": change,
                         "features changed": ", ".join(sorted(imp.features.get(pid, {})))})
        df = pd.DataFrame(rows, columns=_IMPACT_COLUMNS)
        if len(df):
            df = df.assign(_k=df["change %"].abs().fillna(-1)).sort_values(
                ["_k", "product"], ascending=[False, True]).drop(columns="_k")
        return df.reset_index(drop=True)

    def revert(self, audit_id: Any, *, who: str | None = None, key: str | None = None,
               reason: str | None = None, user: User | None = None) -> EditOutcome:
        """Undo one audit entry (itself audited), or say why it cannot be undone."""
        try:
            actor = self._authorise(who, key, committing=True, user=user)
            try:
                aid = int(float(audit_id))
            except (TypeError, ValueError):
                raise FormError("Audit entry: pick an entry in the audit table (its id).") \
                    from None
            if aid < 1:
                raise FormError("Audit entry: pick an entry in the audit table (its id).")
            r = self.curation.revert(aid, actor=actor, reason=(reason or "").strip() or None)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            return self._failure(exc, "reverted")
        counts = ", ".join(f"{n} {k}" for k, n in sorted(r.summary().items()))
        return EditOutcome(True, f"✓ **Reverted audit #{aid}** as audit #{r.audit_id} "
                                 f"({counts}). Live suggestions follow.", audit_id=r.audit_id)


# --------------------------------------------------------------------------- the tab

def curate_tab(service: PricingService, *, curator_keys: Collection[str] | None = None,
               desk: CurateDesk | None = None, login: UiLogin | None = None) -> CurateDesk:
    """Render the "Curate" tab (call inside ``gr.Tabs``, e.g. via ``build_ui(extra_tabs=)``);
    returns its :class:`CurateDesk`. With a ``login`` (enabled) edits are the signed-in
    curator's and the name and key boxes are not shown."""
    desk = desk if desk is not None else CurateDesk(service, curator_keys)
    typed = login is None or not login.enabled
    keyed = desk.curator_keys is not None and typed
    with gr.Tab("Curate", id="curate") as tab:
        gr.Markdown(INTRO + ("" if desk.can_edit else "\n\n**Read-only here:** this server "
                             "has no curator keys, so the UI cannot edit."),
                    elem_id="cur-intro")
        node_state = gr.State(None)   # {"id", "type", "version"} of the loaded node
        with gr.Row():
            with gr.Column(scale=5):
                with gr.Row():
                    s_type = gr.Radio(SEARCH_TYPES, value="any", label="Type", scale=3,
                                      elem_id="cur-search-type")
                    s_text = gr.Textbox(label="Search by name or id", scale=3,
                                        elem_id="cur-search-text")
                    s_go = gr.Button("Search", scale=1, elem_id="cur-search-go")
                s_out = gr.Dataframe(_empty(["id", "type", "name", "degree"]),
                                     interactive=False, max_height=240, elem_id="cur-results",
                                     label="Matches (pick one to load it)")
                with gr.Row():
                    node_box = gr.Textbox(label="Node id", scale=4, elem_id="cur-node")
                    load_btn = gr.Button("Load", scale=1, elem_id="cur-load")
                details = gr.Markdown("Search for a node or type its id, then Load.",
                                      label="node details", show_label=False, elem_id="cur-details")
                plot = gr.Plot(label="Neighbourhood", show_label=False, format="png",
                               elem_id="cur-plot")
                with gr.Accordion("Edges", open=False):
                    edges = gr.Dataframe(_empty(_EDGE_COLUMNS), interactive=False, label="edges",
                                         show_label=False, max_height=300, wrap=True,
                                         elem_id="cur-edges")
            with gr.Column(scale=4):
                gr.Markdown("#### Edit the loaded node")
                with gr.Row():
                    who = gr.Textbox(label="Curator name * (kept in the audit trail)",
                                     elem_id="cur-who", visible=typed)
                    key = gr.Textbox(label="Curator API key *", type="password",
                                     visible=keyed, elem_id="cur-key")
                action = gr.Radio(list(ACTIONS), label="Edit", elem_id="cur-action")
                value = gr.Textbox(label="Value", elem_id="cur-value")
                attribute = gr.Dropdown(ATTRIBUTES, value="price", label="Attribute",
                                        allow_custom_value=True, visible=False,
                                        elem_id="cur-attribute")
                with gr.Group(visible=False) as offer_box:
                    with gr.Row():
                        competitor = gr.Textbox(label="Competitor", elem_id="cur-competitor")
                        price = gr.Number(label="Offer price", elem_id="cur-price")
                        currency = gr.Dropdown(["INR", "GBP", "BRL", "USD", "EUR"], value="INR",
                                               label="Currency", allow_custom_value=True,
                                               elem_id="cur-currency")
                    with gr.Row():
                        observed = gr.Textbox(label="Observed at (date; empty: undated)",
                                              elem_id="cur-observed")
                        replace = gr.Checkbox(label="Replace an offer of the same date",
                                              elem_id="cur-replace")
                reason = gr.Textbox(label="Reason (optional, kept in the audit trail)",
                                    elem_id="cur-reason")
                with gr.Row():
                    preview_btn = gr.Button("Preview impact", interactive=desk.can_edit,
                                            elem_id="cur-preview")
                    commit_btn = gr.Button("Commit", variant="primary",
                                           interactive=desk.can_edit, elem_id="cur-commit")
                status = gr.Markdown(label="edit status", show_label=False, elem_id="cur-status")
                impact = gr.Dataframe(_empty(_IMPACT_COLUMNS), interactive=False,
                                      max_height=320,
                                      label="Impact: products whose features or prices move",
                                      elem_id="cur-impact")
        with gr.Accordion("Audit trail", open=True):
            with gr.Row():
                audit_scope = gr.Radio(["all", "loaded node"], value="all", label="Show",
                                       scale=2, elem_id="cur-audit-scope")
                audit_id = gr.Number(None, label="Audit entry (pick a row)", precision=0,
                                     scale=1, elem_id="cur-audit-id")
                revert_btn = gr.Button("Revert entry", scale=1, interactive=desk.can_edit,
                                       elem_id="cur-revert")
                audit_refresh = gr.Button("Refresh", scale=1, elem_id="cur-audit-refresh")
            audit_status = gr.Markdown(label="revert status", show_label=False, elem_id="cur-audit-status")
            audit_df = gr.Dataframe(_empty(_AUDIT_COLUMNS), interactive=False, label="audit trail",
                                    show_label=False, max_height=320, wrap=True, elem_id="cur-audit")
        with gr.Accordion("Quality worklist (pick a row to load the node)", open=False):
            q_refresh = gr.Button("Refresh worklist", elem_id="cur-quality-refresh")
            q_df = gr.Dataframe(_empty(_WORKLIST_COLUMNS), interactive=False, label="quality worklist",
                                show_label=False, max_height=320, wrap=True, elem_id="cur-quality")
        desk.matches = matches_view(desk, who, key, login)  # competitor matches (#20)
        if login is not None:
            for b in (preview_btn, commit_btn, revert_btn):
                login.gate(b, "edit_graph")

    # ------------------------------------------------------------ handlers
    def show(nid: str | None, scope: str = "all"):
        v = desk.load(nid)
        state = None if v.id is None else {"id": v.id, "type": v.type, "version": v.version}
        acts = actions_for(v.type)
        return (v.details, v.figure, v.edges, state, v.id or (nid or ""),
                gr.update(choices=acts, value=None),
                desk.audit(v.id if scope == "loaded node" else None), gr.update(value=""))

    view_out = [details, plot, edges, node_state, node_box, action, audit_df, value]

    def on_load(nid, scope):
        return show(nid, scope)

    def on_pick(scope, evt: gr.SelectData):
        row = evt.row_value or []
        return show(str(row[0]) if row else None, scope)

    def on_action(act, state):
        f = field_visibility(act, (state or {}).get("type"))
        return (gr.update(visible=f["value"], label=f["value_label"]),
                gr.update(visible=f["attribute"]), gr.update(visible=f["offer"]))

    form = [node_state, action, value, attribute, competitor, price, currency, observed,
            replace, who, key, reason]

    def run(dry: bool):
        def fn(state, act, val, attr, comp, pr, cur, obs, rep, name, k, why, scope,
               request: gr.Request):
            st = state or {}
            out = desk.edit(st.get("id"), st.get("version"), act, value=val, attribute=attr,
                            competitor=comp, price=pr, currency=cur, observed_at=obs,
                            replace=bool(rep), who=name, key=k, reason=why, dry_run=dry,
                            node_type=st.get("type"), user=user_of(login, request))
            if dry or out.audit_id is None:
                return (out.message, out.impact) + tuple(gr.skip() for _ in view_out)
            viewed = show(out.node, scope)
            return (out.message, out.impact, *viewed)
        return fn

    def on_revert(aid, name, k, why, scope, state, request: gr.Request):
        out = desk.revert(aid, who=name, key=k, reason=why, user=user_of(login, request))
        nid = (state or {}).get("id")
        return out.message, desk.audit(nid if scope == "loaded node" else None)

    def on_audit_pick(evt: gr.SelectData):
        row = evt.row_value or []
        return row[0] if row else None

    def on_audit(scope, state):
        return desk.audit((state or {}).get("id") if scope == "loaded node" else None)

    def on_quality_pick(scope, evt: gr.SelectData):
        nid, act, val = CurateDesk.pick(evt.row_value)
        out = show(nid, scope)
        typ = out[3]["type"] if out[3] else None
        f = field_visibility(act, typ)
        return (*out[:5], gr.update(choices=actions_for(typ), value=act), out[6],
                gr.update(value=val, visible=f["value"], label=f["value_label"]))

    # gradio_client: search, load, preview, commit, revert are named endpoints; the rest is UI-only.
    private = {"api_visibility": "private"}
    s_go.click(desk.search, [s_type, s_text], [s_out], api_name="curate_search")
    s_text.submit(desk.search, [s_type, s_text], [s_out], **private)
    s_out.select(on_pick, [audit_scope], view_out, **private)
    load_btn.click(on_load, [node_box, audit_scope], view_out, api_name="curate_load")
    node_box.submit(on_load, [node_box, audit_scope], view_out, **private)
    action.change(on_action, [action, node_state], [value, attribute, offer_box], **private)
    preview_btn.click(run(True), form + [audit_scope], [status, impact] + view_out,
                      api_name="curate_preview")
    commit_btn.click(run(False), form + [audit_scope], [status, impact] + view_out,
                     api_name="curate_commit")
    audit_df.select(on_audit_pick, None, [audit_id], **private)
    revert_btn.click(on_revert, [audit_id, who, key, reason, audit_scope, node_state],
                     [audit_status, audit_df], api_name="curate_revert")
    audit_refresh.click(on_audit, [audit_scope, node_state], [audit_df], **private)
    audit_scope.change(on_audit, [audit_scope, node_state], [audit_df], **private)
    q_refresh.click(lambda: desk.worklist(), None, [q_df], **private)
    q_df.select(on_quality_pick, [audit_scope], view_out, **private)
    tab.select(lambda scope, state: (desk.audit((state or {}).get("id")
                                                if scope == "loaded node" else None),
                                     desk.worklist()),
               [audit_scope, node_state], [audit_df, q_df], **private)
    return desk


class KeySettings(Protocol):
    """What the tab needs of the server's API settings (``assistant.http.deps.ApiSettings``)."""

    auth_disabled: bool
    api_keys: Mapping[str, str]


def curator_keys_of(settings: KeySettings) -> list[str] | None:
    """The curator keys of the server's settings (None when the server runs without auth)."""
    if settings.auth_disabled:
        return None
    return [k for k, role in settings.api_keys.items() if role == "curator"]


def curate_tab_for(settings: KeySettings, login: UiLogin | None = None
                   ) -> Callable[[PricingService], CurateDesk]:
    """``curate_tab`` bound to the server's keys and login, for ``mount(..., extra_tabs=[...])``."""
    return partial(curate_tab, curator_keys=curator_keys_of(settings), login=login)
