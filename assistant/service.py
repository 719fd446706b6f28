"""The pricing service: the one place that composes graph, model, guardrails and explanation.

Use::

    service = PricingService.from_paths("runs/model", graph_db="runs/graph.sqlite",
                                        suggestions_db="runs/suggestions.sqlite")
    s = service.suggest("B07JW9H4J1", SuggestOptions(explain=True))      # a catalog product
    s = service.suggest(ProductIn(title="boAt Rockerz 450", cost=900))  # a new product
    s.recommended_price, s.interval, s.evidence, s.guardrails, s.explanation.text

Flow (one way, as in DESIGN.md): product -> model prediction (p50 + conformal interval) ->
evidence (comparables, competitors, category/brand statistics, drivers) -> guardrails ->
confidence / abstain -> fact sheet -> verified explanation -> stored for audit.
"""
from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from assistant.curation import CurationService
from assistant.demand_advisor import DemandAdvisor, NoSalesHistory
from assistant.explain import Explainer, ProductContext
from assistant.facts import suggestion_fact_sheet
from assistant.guardrails import apply_guardrails
from assistant.settings import Settings
from assistant.suggestion import (
    CLOSE_SIMILARITY,
    DEFAULT_MAX_RELATIVE_WIDTH,
    Comparable,
    CompetitorOfferOut,
    Driver,
    Evidence,
    ExplanationOut,
    GroupStats,
    GuardrailStep,
    InferredLink,
    Interval,
    Suggestion,
    SuggestOptions,
    WhatIfCurve,
    WhatIfOut,
    WhatIfResult,
    decide_abstention,
    relative_width,
)
from assistant.suggestion_cache import SuggestionCache
from assistant.suggestion_store import SuggestionStore
from graph.contracts import ProductIn, finite_or_none
from graph.db import normalize, store_exists
from graph.linking import BrandLinker, Link, category_from_neighbours
from graph.products import product_table
from graph.schema import now_iso
from graph.store import GraphStore
from models.predictor import Predictor


class UnknownProduct(KeyError):
    """A product id that is not in the catalog graph."""


@dataclass
class _Resolved:
    product_id: str | None
    record: dict[str, Any]
    current_price: float | None
    cost: float | None
    currency: str
    links: list[Link] = field(default_factory=list)  # brand / category inferred for new products


class PricingService:
    """Explained, guardrailed suggestions for catalog products (by id) or new ones (inline)."""

    def __init__(self, graph: nx.MultiDiGraph, predictor: Predictor, store: SuggestionStore,
                 explainer: Explainer | None = None, default_currency: str = "INR",
                 graph_db: str | Path | None = None,
                 demand: DemandAdvisor | None = None, cache_items: int = 50_000) -> None:
        self.graph = graph
        # catalog suggestions of the current model and graph (cleared whenever either changes)
        self.cache = SuggestionCache(cache_items)
        self.demand = demand  # demand-aware mode for products with sales history (issue #7)
        # The graph store that curation edits: a SQLite path or a postgresql:// URL (None: the
        # graph is read-only here).
        self.graph_db = normalize(graph_db) if graph_db is not None else None
        self.predictor = predictor
        self.store = store
        self.explainer = explainer if explainer is not None else Explainer(None)
        self.default_currency = default_currency
        self.featurizer = predictor.featurizer_
        self.products = product_table(graph).set_index("product_id", drop=False)
        self.model_version = predictor.version
        # llama.cpp contexts are not thread-safe; the API serves requests from a thread pool.
        self._llm_lock = threading.Lock()
        self._curation: CurationService | None = None
        self._curation_lock = threading.Lock()

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_paths(cls, artifact: str | Path, graph_db: str | Path | None = None,
                   suggestions_db: str | Path = "runs/suggestions.sqlite",
                   llm: Any | None = None, sales: str | Path | None = None,
                   cache_items: int = 50_000) -> PricingService:
        """Load the predictor, the graph (the store's, else the artifact's snapshot) and wire
        the LLM.

        llm: a LangChain chat model for explanations (None: the deterministic verified text).
        sales: a catalog path with a sales table (graph.adapters.load_path) for demand-aware
        pricing; None = market mode only.
        """
        predictor = Predictor.load(artifact)
        if graph_db is not None and store_exists(graph_db):
            with GraphStore(graph_db) as gs:
                graph = gs.load()
        else:
            graph, graph_db = predictor.graph_, None
        demand = DemandAdvisor.from_path(sales) if sales is not None else None
        return cls(graph, predictor, SuggestionStore(suggestions_db), Explainer(llm),
                   graph_db=graph_db, demand=demand, cache_items=cache_items)

    @classmethod
    def from_settings(cls, settings: Settings, *, explain: bool = True) -> PricingService:
        """The service that ``settings`` describe (built at the edge: CLI, server, UI).

        explain=False skips building the LLM (deterministic verified explanations only)."""
        return cls.from_paths(settings.artifact, settings.graph_db, settings.suggestions_db,
                              llm=settings.make_llm() if explain else None, sales=settings.sales,
                              cache_items=settings.cache_items)

    def ready(self) -> bool:
        return self.predictor is not None

    def close(self) -> None:
        """Stop background work (the curation worker; idempotent, the service stays usable)."""
        if self._curation is not None:
            self._curation.close()

    # ---------------------------------------------------------------- curated graph
    @property
    def curation(self) -> CurationService:
        """The one curation service of this service (created on first use): the API and the
        UI of a server share its edit worker (:mod:`assistant.curation`)."""
        with self._curation_lock:
            if self._curation is None:
                self._curation = CurationService(self)
            return self._curation

    def refresh_graph(self, graph: nx.MultiDiGraph) -> None:
        """Serve from an edited graph without a restart: the product table, the evidence and
        the model's graph features (refit on the training ids) all follow ``graph``."""
        predictor = self.predictor_for(graph)
        products = product_table(graph).set_index("product_id", drop=False)
        # Swapped together at the end: a request in flight sees the old or the new state.
        self.graph, self.products = graph, products
        self.predictor, self.featurizer = predictor, predictor.featurizer_
        self.cache.clear()

    def swap_predictor(self, predictor: Predictor) -> str:
        """Serve ``predictor`` (e.g. a newly promoted model) from now on, without a restart;
        returns the version it replaced. With a graph store the new model prices against the
        store's (curated) graph; without one, against the graph snapshot saved with it.
        Everything is prepared first and swapped at the end: a request in flight finishes on
        the old model or the new one, none is refused."""
        if self.graph_db is None and predictor.directory is not None \
                and (predictor.directory / "graph.sqlite").exists():
            graph = predictor.graph_
        else:
            graph, predictor = self.graph, predictor.with_graph(self.graph)
        products = product_table(graph).set_index("product_id", drop=False)
        predictor.prepare()  # its neighbour search, before it serves anyone
        old = self.model_version
        self.graph, self.products = graph, products
        self.predictor, self.featurizer = predictor, predictor.featurizer_
        self.model_version = predictor.version
        self.cache.clear()
        return old

    def predictor_for(self, graph: nx.MultiDiGraph) -> Predictor:
        """A copy of the predictor whose graph features are refit on ``graph`` (same training
        ids and parameters: on an unchanged graph it prices exactly as before). The original is
        left alone: other services may share it."""
        return self.predictor.with_graph(graph)

    # ---------------------------------------------------------------- look-ups
    def _row(self, product_id: str) -> pd.Series:
        try:
            return self.products.loc[product_id]
        except KeyError:
            raise UnknownProduct(product_id) from None

    def product(self, product_id: str) -> dict[str, Any]:
        row = self._row(product_id)
        out = {k: _plain(v) for k, v in row.items() if k != "review_texts"}
        out["reviews"] = list(row["review_texts"] or [])[:20]
        return out

    def competitors(self, product_id: str, own_price: float | None = None,
                    include_stale: bool = False) -> list[CompetitorOfferOut]:
        """Each competitor's latest offer, with its age; stale ones (older than
        ``PRICING_OFFER_MAX_AGE_DAYS``) only with ``include_stale``: they no longer count."""
        self._row(product_id)
        ev = self.featurizer.competitor_evidence(self.graph, product_id, own_price=own_price)
        return [CompetitorOfferOut(competitor=o["competitor"], price=o["price"],
                                   currency=o.get("currency"), observed_at=o.get("observed_at"),
                                   price_index=(round(own_price / o["price"], 4)
                                                if own_price and o["price"] else None),
                                   age_days=o.get("age_days"), stale=bool(o.get("stale")))
                for o in ev.get("offers", [])
                if o.get("latest", True) and (include_stale or not o.get("stale"))]

    # ---------------------------------------------------------------- demand what-ifs
    def what_if(self, product_id: str, price: float, cost: float | None = None) -> WhatIfResult:
        """Expected units, revenue and profit per period at ``price``, with intervals, from the
        product's sales history (issue #7). ``cost`` None: the catalog's unit cost, if any
        (without one, profit is None). Raises UnknownProduct; NoSalesHistory (a ValueError)
        when no demand model is loaded or the product has no usable history; ValueError for a
        price that is not a positive number."""
        advisor, row = self._demand_for(product_id)
        cost = cost if cost is not None else finite_or_none(row.get("cost"))
        out = advisor.what_if(product_id, price, cost)
        return WhatIfResult(**out, currency=_plain(row.get("currency")), cost=cost)

    def what_if_curve(self, product_id: str, lo: float | None = None, hi: float | None = None,
                      n: int = 21, cost: float | None = None) -> WhatIfCurve:
        """``what_if`` at ``n`` evenly spaced prices from ``lo`` to ``hi`` (default: the
        prices the product sold at, widened by the advisor's margin). Same errors as what_if."""
        advisor, row = self._demand_for(product_id)
        cost = cost if cost is not None else finite_or_none(row.get("cost"))
        points = advisor.curve(product_id, lo, hi, n, cost)
        return WhatIfCurve(product_id=product_id, currency=_plain(row.get("currency")), cost=cost,
                           elasticity=advisor.describe(product_id),
                           points=[WhatIfOut(**p) for p in points])

    def _demand_for(self, product_id: str) -> tuple[DemandAdvisor, pd.Series]:
        row = self._row(product_id)
        if self.demand is None:
            raise NoSalesHistory("no sales history loaded: demand what-ifs are unavailable "
                                 "(set PRICING_SALES to a catalog with a sales table)")
        return self.demand, row

    def _resolve(self, target: ProductIn | str | Mapping[str, Any]) -> _Resolved:
        if isinstance(target, str):
            row = self._row(target)
            rec = {k: row[k] for k in ("product_id", "title", "description", "category_path",
                                       "brand", "rating", "rating_count", "currency")}
            rec = {k: (None if pd.isna(v) else v) for k, v in rec.items()}
            rec["reviews"] = list(row["review_texts"] or [])
            return _Resolved(target, rec, finite_or_none(row["price"]), finite_or_none(row.get("cost")),
                             rec.get("currency") or self.default_currency)
        p = target if isinstance(target, ProductIn) else ProductIn.model_validate(target)
        rec = p.model_dump(exclude={"price", "cost"})
        pid = p.product_id if p.product_id in self.products.index else None
        if pid is not None:  # fill what the caller left out from the catalog
            row = self._row(pid)
            for k in ("description", "category_path", "brand", "rating", "rating_count", "currency"):
                if rec.get(k) is None and not pd.isna(row[k]):
                    rec[k] = row[k]
            if not rec["reviews"]:
                rec["reviews"] = list(row["review_texts"] or [])
        # A new product without a currency is priced in its category's (or brand's): a UK toy
        # compared with rupee prices would be nonsense.
        links: list[Link] = []
        if pid is None and not rec.get("brand"):
            link = self.brands.link(rec["title"])
            if link is not None:
                rec["brand"] = link.value
                links.append(link)
        currency = (rec.get("currency")
                    or self.featurizer.currency_for(rec.get("category_path"), rec.get("brand"))
                    or self.default_currency)
        rec["currency"] = currency
        return _Resolved(pid or p.product_id, rec, p.price, p.cost, currency, links)

    @property
    def brands(self) -> BrandLinker:
        """The graph's known brands, for linking new products (rebuilt after a graph edit)."""
        g = self.graph
        cached = getattr(self, "_brands", None)
        if cached is None or cached[0] is not g:
            cached = (g, BrandLinker.from_graph(g))
            self._brands = cached
        return cached[1]

    def _infer_categories(self, resolved: Sequence[_Resolved], k: int = 10) -> None:
        """A category for each new product given without one, from its nearest catalog
        products (same currency), recorded as a link; it then feeds the model."""
        todo = [r for r in resolved if not r.record.get("category_path")
                and (r.product_id is None or r.product_id not in self.products.index)]
        if not todo or self.predictor.catalog_embeddings_ is None:
            return
        emb = self.predictor.embed([r.record["title"] for r in todo])
        found = self.predictor.neighbours_many(emb, [""] * len(todo), k=k,
                                               currencies=[r.currency for r in todo])
        for r, near in zip(todo, found):
            link = category_from_neighbours([(n.get("category_path"), n["similarity"]) for n in near])
            if link is not None:
                r.record["category_path"] = link.value
                r.links.append(link)

    # ---------------------------------------------------------------- suggestions
    def suggest(self, target: ProductIn | str | Mapping[str, Any],
                options: SuggestOptions | None = None, *, store: bool = True) -> Suggestion:
        opts = options or SuggestOptions()
        catalog_id = target if isinstance(target, str) else None
        s = self.cache.get(catalog_id, opts) if catalog_id is not None else None
        if s is None:
            generation = self.cache.generation
            r = self._resolve(target)
            self._infer_categories([r])
            # drivers come with the prediction: one feature pass for both
            pred = self.predictor.predict([r.record], drivers=True)[0]
            s = self._build(r, pred, opts)
            if catalog_id is not None:
                self.cache.put(catalog_id, opts, s, generation=generation)
        if store:
            self.store.add_suggestion(s)
        return s

    def warm_cache(self, options: SuggestOptions | None = None, progress: bool = True) -> int:
        """Compute the catalog's suggestions (up to the cache's size) in vectorised batches
        so that lookups by id answer from memory; returns how many were cached."""
        ids = [str(p) for p in self.products.index]
        return self.cache.warm(ids, options or SuggestOptions(explain=False),
                               lambda part, o: self.suggest_batch(part, o, store=False),
                               progress=progress)

    def suggest_batch(self, targets: Iterable[ProductIn | str | Mapping[str, Any]],
                      options: SuggestOptions | Sequence[SuggestOptions] | None = None, *,
                      store: bool = True) -> list[Suggestion | Exception]:
        """Many suggestions with one vectorised model pass; per item a Suggestion or the error
        (UnknownProduct, GuardrailConflict, ValueError) that item raised, in input order.
        ``options`` is one SuggestOptions for all items or one per item."""
        targets = list(targets)
        if options is None or isinstance(options, SuggestOptions):
            per_item = [options or SuggestOptions()] * len(targets)
        else:
            per_item = list(options)
            if len(per_item) != len(targets):
                raise ValueError(f"options: {len(per_item)} given for {len(targets)} products")
        out: list[Suggestion | Exception | None] = []
        resolved: list[tuple[int, _Resolved]] = []
        for i, t in enumerate(targets):
            try:
                resolved.append((i, self._resolve(t)))
                out.append(None)
            except (UnknownProduct, ValueError) as exc:
                out.append(exc)
        self._infer_categories([r for _, r in resolved])
        preds = (self.predictor.predict([r.record for _, r in resolved], drivers=True)
                 if resolved else [])
        comparables = self._comparables_many(resolved, preds, per_item)
        for (i, r), pred, comps in zip(resolved, preds, comparables):
            try:
                out[i] = self._build(r, pred, per_item[i], comps)
            except ValueError as exc:  # GuardrailConflict and out-of-range numbers
                out[i] = exc
        if store:
            self.store.add_suggestions([x for x in out if isinstance(x, Suggestion)])
        return out  # type: ignore[return-value]

    def _comparables_many(self, resolved: Sequence[tuple[int, _Resolved]], preds: Sequence[Any],
                          per_item: Sequence[SuggestOptions]) -> list[list[dict]]:
        """Comparables of a whole batch: one search of the predictions' own text embeddings
        per (k, category) group."""
        out: list[list[dict]] = [[] for _ in preds]
        by_k: dict[int, list[int]] = {}
        for j, (i, _) in enumerate(resolved):
            if per_item[i].k_comparables:
                by_k.setdefault(per_item[i].k_comparables, []).append(j)
        for k, js in by_k.items():
            found = self.predictor.neighbours_many(
                np.stack([preds[j].embedding for j in js]),
                [resolved[j][1].record.get("category_path") for j in js], k=k,
                exclude_ids=[[resolved[j][1].product_id] for j in js],
                currencies=[resolved[j][1].currency for j in js])
            for j, f in zip(js, found):
                out[j] = f
        return out

    def _build(self, r: _Resolved, pred: Any, opts: SuggestOptions,
               comparables: list[dict] | None = None) -> Suggestion:
        model_price = round(float(pred.p50), 2)
        interval = Interval(low=round(float(pred.low), 2), high=round(float(pred.high), 2),
                            coverage=float(pred.coverage))

        if comparables is None:
            comparables = self._comparables_many([(0, r)], [pred], [opts])[0]
        evidence = self._evidence(r, model_price, pred.drivers or {}, comparables)
        cheapest = min((c.price for c in evidence.competitors), default=None)

        policy = opts.policy
        if policy.cost is None and r.cost is not None:
            policy = policy.model_copy(update={"cost": r.cost})
        if policy.cost is not None and policy.min_margin is None and policy.min_markup is None:
            policy = policy.model_copy(update={"min_markup": 0.0})  # never below cost by default
        # Demand-aware mode: the profit optimum (or clearance price) from the product's sales
        # history, anchored on the model's market price and searched inside the guardrail
        # bounds; apply_guardrails then only rounds it and applies the price ending.
        decision = (self.demand.decide(r.product_id, model_price, policy, r.current_price,
                                       cheapest, opts.inventory)
                    if self.demand is not None else None)
        advice = decision.advice if decision is not None else None
        evidence.elasticity = decision.evidence if decision is not None else None
        gr = apply_guardrails(advice.price if advice is not None else model_price, policy,
                              current_price=r.current_price, cheapest_competitor=cheapest)
        price = round(float(gr.final_price), 2)
        for c in evidence.competitors:
            c.price_index = round(price / c.price, 4) if c.price else None

        rel_width = relative_width(interval.low, interval.high, model_price)
        n_cat = evidence.category.n if evidence.category else 0
        close = [c for c in evidence.comparables if c.similarity >= CLOSE_SIMILARITY]
        evidence_score = min(1.0, (n_cat + 5 * len(close)) / 40.0)
        confidence = round(max(0.0, min(1.0, (1.0 / (1.0 + rel_width)) * (0.5 + 0.5 * evidence_score))), 3)
        threshold, source = self._abstain_threshold(opts)
        abstention = decide_abstention(interval, model_price, n_cat, len(close), threshold, source)
        change_pct = (round((price - r.current_price) / r.current_price * 100, 2)
                      if r.current_price else None)

        s = Suggestion(
            suggestion_id=uuid.uuid4().hex, product_id=r.product_id, title=r.record["title"],
            currency=r.currency, recommended_price=price, model_price=model_price,
            mode="demand-aware" if advice is not None else "market",
            mode_reason=decision.reason if decision is not None else None,
            interval=interval, current_price=r.current_price, change_pct=change_pct,
            evidence=evidence,
            guardrails=[GuardrailStep(rule=a.rule, before=a.before, after=a.after, detail=a.detail)
                        for a in gr.applied],
            confidence=confidence, relative_width=round(rel_width, 4), abstention=abstention,
            model_version=self.model_version, created_at=now_iso())
        s.explanation = (self._explain(s, r) if opts.explain
                         else ExplanationOut(text="", status="not_requested"))
        return s

    def _abstain_threshold(self, opts: SuggestOptions) -> tuple[float, str]:
        """(max relative width, where it comes from): the request's, else the model's
        calibrated one, else the fixed default of models trained without one."""
        if opts.max_relative_width is not None:
            return opts.max_relative_width, "request"
        model = self.predictor.abstain_width()
        if model is not None:
            return model, "model"
        return DEFAULT_MAX_RELATIVE_WIDTH, "default"

    def suggest_many(self, targets: Iterable[ProductIn | str], options: SuggestOptions | None = None
                     ) -> list[Suggestion]:
        """Like suggest_batch, but the first failing item raises."""
        out = self.suggest_batch(targets, options, store=False)
        for x in out:
            if isinstance(x, Exception):
                raise x
        self.store.add_suggestions(out)  # type: ignore[arg-type]
        return out  # type: ignore[return-value]

    def _evidence(self, r: _Resolved, model_price: float, drivers_log: Mapping[str, float],
                  comparables: list[dict]) -> Evidence:
        rec = r.record
        cat = self.featurizer.category_stats(rec.get("category_path"), currency=r.currency,
                                             exclude_product_id=r.product_id)
        brand = (self.featurizer.brand_stats(rec.get("brand"), currency=r.currency,
                                             exclude_product_id=r.product_id)
                 if rec.get("brand") else None)
        comps = (self.competitors(r.product_id, own_price=model_price)
                 if r.product_id in self.products.index else [])
        drivers = [Driver(group=g, effect_pct=round((math.exp(d) - 1) * 100, 2))
                   for g, d in drivers_log.items()]
        drivers.sort(key=lambda d: -abs(d.effect_pct))
        return Evidence(
            links=[InferredLink(**asdict(link)) for link in r.links],
            comparables=[Comparable(**n) for n in comparables], competitors=comps,
            category=_group(cat, rec.get("category_path") or "(unknown)"),
            brand=_group(brand, rec.get("brand")) if brand else None, drivers=drivers)

    def _explain(self, s: Suggestion, r: _Resolved) -> ExplanationOut:
        sheet = suggestion_fact_sheet(s, cost=r.cost, in_catalog=r.product_id is not None)
        ctx = ProductContext(title=s.title, description=str(r.record.get("description") or ""),
                             reviews=tuple(r.record.get("reviews") or ())[:3],
                             brand=str(r.record.get("brand") or ""),
                             category=str(r.record.get("category_path") or ""))
        with self._llm_lock:
            e = self.explainer.explain(sheet, ctx)
        return ExplanationOut(text=e.text, fact_ids=e.fact_ids, status=e.status,
                              seconds=round(e.seconds, 3))


def _plain(v: Any) -> Any:
    """A JSON-ready value: numpy scalars unwrapped, missing values as None."""
    if isinstance(v, (list, tuple, dict)):
        return v
    if pd.isna(v):
        return None
    return v.item() if hasattr(v, "item") else v


def _group(stats: Mapping[str, Any] | None, name: str | None) -> GroupStats | None:
    if not stats or not stats.get("n"):
        return None
    depth = stats.get("depth")
    label = stats.get("level_path") or ("all products" if depth == 0 else name)
    return GroupStats(name=str(label), median=finite_or_none(stats.get("median")),
                      p25=finite_or_none(stats.get("p25")), p75=finite_or_none(stats.get("p75")),
                      n=int(stats.get("n") or 0), level=depth if isinstance(depth, int) else None)

