"""Competitor matching: read a competitor's listings, link them to catalog products, ask curators.

Use::

    from assistant.matching import MatchService, read_listings
    listings, rejected = read_listings("flipkart.csv", default_currency="INR")
    with MatchService("runs/graph.sqlite", "runs/matcher") as svc:   # or a postgresql:// URL
        report = svc.run(listings, competitor="Flipkart", actor="cli")
        report.counts                      # {"linked": .., "queued": .., "dropped": .., ...}
        q = svc.queue()                    # pending proposals, best first
        svc.confirm(q[0].id, actor="alice")           # writes the offer, stores label 1
        svc.reject(q[1].id, actor="alice")            # stores label 0: never proposed again
        svc.relink(q[2].id, "B07X", actor="alice")    # the listing is another product

A run, per listing: candidates from :class:`models.blocking.CatalogIndex` (embedding,
lexical and brand neighbours among all catalog products), scored by the trained
:class:`models.matcher.PairMatcher`; pairs a curator rejected are removed; then

- best score >= ``auto_threshold`` (the matcher's >= 98%-precision cut-off) and the runner-up
  at least ``margin`` below: the offer is linked automatically (two near-equal candidates,
  e.g. colour variants or duplicate catalog entries, go to a person instead);
- best score >= ``review_threshold``: the best ``max_review`` candidates above it wait in the
  review queue;
- below: dropped (counted in the report, nothing stored).

A listing already linked (by an earlier run or a curator) is not matched again: its new
observation becomes a new dated offer of the same product. Every link is written with
:meth:`graph.curation.Curator.add_offer`, so it is validated, audited and revertible like any
curator edit; its proposal keeps the score, the features that decided it (TreeSHAP
contributions) and who linked or confirmed it, with the audit id. Curator verdicts are
stored as labels (:mod:`graph.match_store`) for the next matcher (:meth:`training_pairs`).

The listings file is read and validated row by row by :mod:`assistant.competitor_listings`
(re-exported here: ``read_listings``, ``validate_listings``, ``CompetitorListing``).
"""
from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from assistant.competitor_listings import (  # noqa: F401 - part of this module's API
    CompetitorListing,
    read_listings,
    validate_listings,
)
from graph.contracts import Rejection
from graph.curation import CurationError, Curator
from graph.match_store import MatchStore, Proposal
from graph.store import GraphStore
from models.match_features import Listing

# ----------------------------------------------------------------------------- results

@dataclass
class Decision:
    """What a run did with one listing."""

    row: int
    listing_key: str
    action: str                     # linked | queued | dropped | known | failed
    product_id: str | None = None   # linked / known: the product; queued: the best candidate
    score: float | None = None
    proposals: list[int] = field(default_factory=list)
    audit_id: int | None = None
    note: str | None = None


@dataclass
class MatchReport:
    run_id: str
    competitor: str
    listings: int
    counts: dict[str, int]
    decisions: list[Decision]
    rejected_rows: list[Rejection]
    seconds: dict[str, float]

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "competitor": self.competitor, "listings": self.listings,
                "counts": self.counts, "seconds": self.seconds,
                "rejected_rows": [r.as_dict() for r in self.rejected_rows],
                "decisions": [asdict(d) for d in self.decisions]}


@dataclass
class MatchSettings:
    """Decision thresholds; None takes the matcher's own (learned on validation pairs)."""

    auto_threshold: float | None = None
    review_threshold: float | None = None
    margin: float = 0.1
    max_review: int = 3


# ----------------------------------------------------------------------------- the service

def catalog_listings(conn) -> tuple[list[str], list[Listing]]:
    """Every product of the graph store as a Listing (title, brand, leaf category, price)."""
    ids: list[str] = []
    out: list[Listing] = []
    # Three scans joined in Python: a correlated sub-query per product lets SQLite pick the
    # edges(type) index and read every made_by edge for each product.
    brand = dict(conn.execute("SELECT e.src, b.name FROM edges e JOIN nodes b ON b.id = e.dst "
                              "WHERE e.type = 'made_by'").fetchall())
    cats = dict(conn.execute("SELECT id, attrs FROM nodes WHERE type = 'category'").fetchall())
    cat_of = dict(conn.execute("SELECT src, dst FROM edges WHERE type = 'in_category'"
                               ).fetchall())
    paths = {cid: json.loads(a or "{}").get("path") for cid, a in cats.items()}
    for nid, name, attrs in conn.execute(
            "SELECT id, name, attrs FROM nodes WHERE type = 'product' ORDER BY id"):
        a = json.loads(attrs or "{}")
        price = a.get("price")
        ids.append(nid.partition(":")[2])
        out.append(Listing(title=str(a.get("title") or name or ""), brand=brand.get(nid),
                           category=paths.get(cat_of.get(nid)), description=None,
                           price=float(price) if isinstance(price, (int, float)) and price > 0
                           else None, currency=a.get("currency")))
    return ids, out


class MatchService:
    """Matching runs and curator decisions on one graph store.

    Parameters
    ----------
    store: a GraphStore or its location (a SQLite path or a ``postgresql://`` URL: the
        proposals and labels live next to the graph on either backend).
    matcher: a fitted :class:`models.matcher.PairMatcher` or the folder of a saved one (only
        runs need it; confirm / reject / relink work without).
    settings: decision thresholds.
    cache_dir: embedding cache for the catalog (encoded once per catalog text).
    on_change: called with the audit ids after links are written or removed (the server
        refreshes its graph with it).
    """

    def __init__(self, store: GraphStore | str | Path, matcher: Any = None, *,
                 settings: MatchSettings | None = None, cache_dir: str | Path | None = None,
                 on_change: Callable[[list[int]], None] | None = None) -> None:
        self._own = not isinstance(store, GraphStore)
        self.store = GraphStore(store) if self._own else store
        self.matches = MatchStore(self.store.conn)
        if isinstance(matcher, (str, Path)):
            from models.matcher import PairMatcher

            matcher = PairMatcher.load(matcher)
        self.matcher = matcher
        self.settings = settings or MatchSettings()
        self.cache_dir = cache_dir
        self.on_change = on_change
        self._index = None
        self._index_token: tuple | None = None

    def close(self) -> None:
        if self._own:
            self.store.close()

    def __enter__(self) -> MatchService:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _curator(self, actor: str) -> Curator:
        return Curator(self.store, actor=actor)

    # ------------------------------------------------------------------ thresholds
    @property
    def auto_threshold(self) -> float:
        s = self.settings.auto_threshold
        return float(s if s is not None else self.matcher.auto_threshold_)

    @property
    def review_threshold(self) -> float:
        s = self.settings.review_threshold
        return float(s if s is not None else self.matcher.review_threshold_)

    # ------------------------------------------------------------------ catalog index
    def index(self, progress: bool = False):
        """The blocking index over the store's products (rebuilt when products change)."""
        from models.blocking import CatalogIndex

        conn = self.store.conn
        token = conn.execute("SELECT COUNT(*), MAX(updated_at) FROM nodes WHERE type='product'"
                             ).fetchone()
        if self._index is None or self._index_token != token:
            if self.matcher is None:
                raise RuntimeError("MatchService: no matcher given (needed to match listings)")
            ids, listings = catalog_listings(conn)
            # no embedding search when the scorer does not use embeddings either: nothing
            # has to encode the catalog then
            idx = CatalogIndex(k_embedding=20 if self.matcher.use_embedding else 0)
            idx.set_encoder(self.matcher.encoder())
            self._index = idx.fit(ids, listings, cache_dir=self.cache_dir, progress=progress)
            self._index_token = token
        return self._index

    # ------------------------------------------------------------------ a run
    def run(self, listings: Sequence[CompetitorListing], competitor: str, *, actor: str = "matcher",
            rejected_rows: Sequence[Rejection] = (), dry_run: bool = False,
            progress: bool = False) -> MatchReport:
        """Match ``listings`` of ``competitor``: link, queue or drop each (see the module)."""
        if self.matcher is None:
            raise RuntimeError("MatchService: no matcher given (needed to match listings)")
        competitor = " ".join(str(competitor or "").split())
        if not competitor:
            raise ValueError("competitor: a competitor name is required")
        run_id = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        t0 = time.perf_counter()
        self.sync_reverted()
        idx = self.index(progress=progress)
        t_index = time.perf_counter() - t0
        decisions: list[Decision] = []
        todo: list[CompetitorListing] = []
        known: list[tuple[CompetitorListing, Proposal]] = []
        for x in listings:
            link = self.matches.link_of(competitor, x.key)
            if link is not None:
                known.append((x, link))
            else:
                todo.append(x)
        t1 = time.perf_counter()
        scored = self._score(idx, todo)
        t_score = time.perf_counter() - t1
        t2 = time.perf_counter()
        written: list[int] = []
        cur = self._curator(actor)
        for x, link in known:
            decisions.append(self._known(cur, competitor, x, link, dry_run, written))
        for x, (rows, probs, feats) in zip(todo, scored):
            decisions.append(self._decide(cur, run_id, competitor, x, idx, rows, probs, feats,
                                          actor, dry_run, written))
        t_write = time.perf_counter() - t2
        if written and self.on_change is not None:
            self.on_change(written)
        counts = Counter(d.action for d in decisions)
        counts["rejected_rows"] = len(rejected_rows)
        return MatchReport(run_id, competitor, len(listings), dict(counts), decisions,
                           list(rejected_rows),
                           {"index": round(t_index, 2), "score": round(t_score, 2),
                            "write": round(t_write, 2),
                            "total": round(time.perf_counter() - t0, 2)})

    def _score(self, idx, todo: Sequence[CompetitorListing]):
        """(catalog rows, probabilities, features) per listing, best first."""
        if not todo:
            return []
        ls = [x.as_listing() for x in todo]
        emb = idx.embed(ls, cache_dir=None) if idx.emb_ is not None else None
        cands = idx.candidates(ls, emb=emb)
        left_rows = np.concatenate([np.full(len(c), i) for i, c in enumerate(cands)])
        right_rows = np.concatenate(cands)
        left = [ls[i] for i in left_rows]
        right = [idx.listings_[j] for j in right_rows]
        X = self.matcher.features(left, right,
                                  emb_left=None if emb is None else emb[left_rows],
                                  emb_right=None if emb is None else idx.emb_[right_rows])
        p = self.matcher.predict_features(X)
        out = []
        start = 0
        for c in cands:
            sl = slice(start, start + len(c))
            order = np.argsort(-p[sl], kind="stable")
            out.append((c[order], p[sl][order], X[sl][order]))
            start += len(c)
        return out

    def _decide(self, cur: Curator, run_id: str, competitor: str, x: CompetitorListing, idx,
                rows: np.ndarray, probs: np.ndarray, feats: np.ndarray, actor: str,
                dry_run: bool, written: list[int]) -> Decision:
        key = x.key
        rejected = self.matches.rejected_products(competitor, key)
        keep = [i for i, r in enumerate(rows) if idx.ids_[r] not in rejected]
        rows, probs, feats = rows[keep], probs[keep], feats[keep]
        if len(rows) == 0 or probs[0] < self.review_threshold:
            best = float(probs[0]) if len(rows) else None
            return Decision(x.row, key, "dropped", idx.ids_[rows[0]] if len(rows) else None, best)
        best, second = float(probs[0]), float(probs[1]) if len(rows) > 1 else 0.0
        explain = self.matcher.explain(feats[:self.settings.max_review])
        listing = x.model_dump()
        # a link a curator reverted is never made again automatically: a person decides
        reverted = {p.product_id for p in self.matches.find(competitor=competitor,
                                                           listing_key=key, status="reverted")}
        if (best >= self.auto_threshold and best - second >= self.settings.margin
                and idx.ids_[rows[0]] not in reverted):
            pid = idx.ids_[rows[0]]
            prop = Proposal(run_id, competitor, key, listing, pid, best, 1, explain[0], "linked",
                            decided_by=actor)
            if dry_run:
                return Decision(x.row, key, "linked", pid, best, note="dry run")
            try:
                res = self._add_offer(cur, competitor, x, pid, actor,
                                      f"match {run_id}: score {best:.3f} >= auto "
                                      f"{self.auto_threshold:.3f}, runner-up {second:.3f}")
            except CurationError as exc:
                prop.status = "pending"
                prop.reason = f"automatic link refused: {exc}"
                prop.decided_by = None
                pid_ = self.matches.upsert(prop)
                return Decision(x.row, key, "queued", pid, best, [pid_], note=str(exc))
            prop.audit_id = res.audit_id
            prop.decided_at = datetime.now(UTC).isoformat(timespec="seconds")
            pid_ = self.matches.upsert(prop)
            self.matches.decide(pid_, "linked", actor=actor, audit_id=res.audit_id)
            if res.audit_id is not None:
                written.append(res.audit_id)
            return Decision(x.row, key, "linked", pid, best, [pid_], res.audit_id)
        ids = []
        for k in range(min(self.settings.max_review, len(rows))):
            if probs[k] < self.review_threshold:
                break
            why = ("its automatic link was reverted" if idx.ids_[rows[k]] in reverted
                   else "two candidates score alike" if best >= self.auto_threshold
                   else "score below the automatic-link threshold")
            prop = Proposal(run_id, competitor, key, listing, idx.ids_[rows[k]], float(probs[k]),
                            k + 1, explain[k], "pending", reason=why)
            if not dry_run:
                existing = self.matches.find(competitor=competitor, listing_key=key,
                                             product_id=prop.product_id, limit=1)
                if existing and existing[0].status == "reverted":
                    self.matches.decide(existing[0].id, "pending", actor=actor,
                                        reason="its link was reverted; asking again")
                ids.append(self.matches.upsert(prop))
        return Decision(x.row, key, "queued", idx.ids_[rows[0]], best, ids)

    def _known(self, cur: Curator, competitor: str, x: CompetitorListing, link: Proposal,
               dry_run: bool, written: list[int]) -> Decision:
        """A listing linked before: record this observation as a new dated offer."""
        key = x.key
        if dry_run:
            return Decision(x.row, key, "known", link.product_id, link.score, [link.id])
        try:
            res = self._add_offer(cur, competitor, x, link.product_id, cur.actor,
                                  f"new observation of listing {key} (link #{link.id})")
        except CurationError as exc:
            return Decision(x.row, key, "known", link.product_id, link.score, [link.id],
                            note=f"offer not added: {exc}")
        if res.audit_id is not None:
            written.append(res.audit_id)
        return Decision(x.row, key, "known", link.product_id, link.score, [link.id], res.audit_id)

    @staticmethod
    def _add_offer(cur: Curator, competitor: str, x: CompetitorListing | dict, product_id: str,
                   actor: str, reason: str):
        d = x.model_dump() if isinstance(x, CompetitorListing) else dict(x)
        return cur.add_offer(competitor, product_id, d["price"], d["currency"],
                             observed_at=d.get("observed_at"), url=d.get("url"),
                             create_missing=True, actor=actor, reason=reason)

    # ------------------------------------------------------------------ curators
    def queue(self, competitor: str | None = None, limit: int = 100,
              offset: int = 0) -> list[Proposal]:
        """The review queue: pending proposals, highest score first."""
        self.sync_reverted()
        return self.matches.queue(competitor, limit=limit, offset=offset)

    def proposal(self, proposal_id: int) -> Proposal:
        return self.matches.get(proposal_id)

    def _product_snapshot(self, product_id: str) -> dict:
        row = self.store.conn.execute("SELECT name, attrs FROM nodes WHERE id=?",
                                      (f"product:{product_id}",)).fetchone()
        if row is None:
            raise CurationError(f"product:{product_id} does not exist", field="product_id")
        a = json.loads(row[1] or "{}")
        return {"product_id": product_id, "title": a.get("title") or row[0],
                "price": a.get("price"), "currency": a.get("currency")}

    def confirm(self, proposal_id: int, *, actor: str, reason: str | None = None) -> Proposal:
        """A curator says: same product. Writes the offer (unless already linked), stores
        label 1 and closes the listing's other pending proposals."""
        p = self.matches.get(proposal_id)
        if p.status in ("rejected", "superseded"):
            raise CurationError(f"proposal #{proposal_id} is {p.status}; relink the listing "
                                f"instead", field="proposal_id")
        current = self.matches.link_of(p.competitor, p.listing_key)
        if current is not None and current.id != p.id:
            raise CurationError(f"listing {p.listing_key} is already linked to "
                                f"{current.product_id} (proposal #{current.id}); use relink",
                                field="proposal_id")
        audit_id = p.audit_id if p.status in ("linked", "confirmed") else None
        if p.status not in ("linked", "confirmed"):
            res = self._add_offer(self._curator(actor), p.competitor, p.listing, p.product_id,
                                  actor, reason or f"match confirmed: proposal #{p.id}, "
                                                    f"score {p.score:.3f}")
            audit_id = res.audit_id
            if audit_id is not None and self.on_change is not None:
                self.on_change([audit_id])
        self.matches.decide(p.id, "confirmed", actor=actor, audit_id=audit_id, reason=reason)
        self.matches.supersede_others(p.competitor, p.listing_key, p.id, actor)
        self.matches.add_label(p.competitor, p.listing_key, p.product_id, 1, listing=p.listing,
                               product=self._product_snapshot(p.product_id), actor=actor,
                               proposal_id=p.id)
        return self.matches.get(p.id)

    def reject(self, proposal_id: int, *, actor: str, reason: str | None = None) -> Proposal:
        """A curator says: not the same product. Removes the offer if it was linked (audited),
        stores label 0; the pair is never proposed again."""
        p = self.matches.get(proposal_id)
        audit_id = None
        if p.status in ("linked", "confirmed"):
            audit_id = self._remove_link(p, actor, reason or f"match rejected: proposal #{p.id}")
        self.matches.decide(p.id, "rejected", actor=actor, audit_id=audit_id, reason=reason)
        self.matches.add_label(p.competitor, p.listing_key, p.product_id, 0, listing=p.listing,
                               product=self._product_snapshot_or_id(p.product_id), actor=actor,
                               proposal_id=p.id)
        return self.matches.get(p.id)

    def relink(self, proposal_id: int, product_id: str, *, actor: str,
               reason: str | None = None) -> Proposal:
        """A curator says: this listing is ``product_id``. Rejects the proposal's product (and
        removes its offer if linked), links the listing to ``product_id`` as confirmed."""
        p = self.matches.get(proposal_id)
        product_id = str(product_id or "").strip()
        if product_id.startswith("product:"):
            product_id = product_id.partition(":")[2]
        if not product_id:
            raise CurationError("product_id: give the catalog product to link", field="product_id")
        self._product_snapshot(product_id)  # raises if it does not exist
        if product_id == p.product_id:
            return self.confirm(p.id, actor=actor, reason=reason)
        why = reason or f"relinked to {product_id}"
        current = self.matches.link_of(p.competitor, p.listing_key)
        if current is not None and current.id != p.id:
            self.reject(current.id, actor=actor, reason=why)
        if p.status != "rejected":
            self.reject(p.id, actor=actor, reason=why)
        new_id = self.matches.upsert(Proposal(
            p.run_id, p.competitor, p.listing_key, p.listing, product_id, p.score, 0, {},
            "pending", reason=f"relinked by {actor} from proposal #{p.id}"))
        if self.matches.get(new_id).status != "pending":
            # an explicit relink overrides an earlier verdict on that pair
            self.matches.decide(new_id, "pending", actor=actor, reason="relinked")
        return self.confirm(new_id, actor=actor, reason=reason or f"relinked from #{p.id}")

    def _product_snapshot_or_id(self, product_id: str) -> dict:
        try:
            return self._product_snapshot(product_id)
        except CurationError:
            return {"product_id": product_id}

    def _remove_link(self, p: Proposal, actor: str, reason: str) -> int | None:
        obs = p.listing.get("observed_at")
        cur = self._curator(actor)
        try:
            res = cur.remove_offer(p.competitor, p.product_id, observed_at=obs, actor=actor,
                                   reason=reason)
        except CurationError:
            return None  # the offer is gone already (removed or reverted by hand)
        if res.audit_id is not None and self.on_change is not None:
            self.on_change([res.audit_id])
        return res.audit_id

    def sync_reverted(self) -> int:
        """Proposals whose link was reverted in the audit trail become ``reverted``."""
        rows = self.store.conn.execute(
            "SELECT p.audit_id FROM match_proposals p JOIN audit a ON a.id = p.audit_id "
            "WHERE p.status IN ('linked', 'confirmed') AND a.reverted_by IS NOT NULL"
        ).fetchall() if self._has_audit() else []
        return self.matches.mark_reverted({r[0] for r in rows})

    def _has_audit(self) -> bool:
        return self.store.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='audit'").fetchone() is not None

    # ------------------------------------------------------------------ labels
    def training_pairs(self, competitor: str | None = None
                       ) -> tuple[list[Listing], list[Listing], list[int]]:
        """Curator labels as (competitor listings, catalog products, 0/1) for training."""
        left, right, y = [], [], []
        for lab in self.matches.labels(competitor):
            left.append(Listing.from_mapping(lab.listing))
            right.append(Listing.from_mapping(lab.product))
            y.append(lab.label)
        return left, right, y



# ----------------------------------------------------------------------------- training

def train_matcher(out: str | Path, *, pair_folders: Sequence[str | Path] = (),
                  db: str | Path | None = None, synthetic: int = 0,
                  exclude: set[str] = frozenset(), cache_dir: str | Path | None = None,
                  matcher_params: dict | None = None,
                  log: Callable[[str], None] | None = None):
    """Train and save a :class:`models.matcher.PairMatcher` from every source given.

    ``pair_folders``: labelled pair folders (their train splits train, valid splits set the
    thresholds); ``db``: a graph store whose curator labels train too, and whose catalog
    gives ``synthetic`` synthetic listings (a quarter of them validate), never from products
    in ``exclude``. Returns the fitted matcher.
    """
    from models.match_data import read_pair_folder, split_pairs, synthetic_pairs
    from models.matcher import PairMatcher

    L: list[Listing] = []
    R: list[Listing] = []
    Y: list[int] = []
    VL: list[Listing] = []
    VR: list[Listing] = []
    VY: list[int] = []
    texts: list[str] = []
    for f in pair_folders:
        d = read_pair_folder(f)
        for src, (a, b, y) in (("train", d["train"]), ("valid", d["valid"])):
            tgt = (L, R, Y) if src == "train" else (VL, VR, VY)
            tgt[0].extend(a)
            tgt[1].extend(b)
            tgt[2].extend(int(v) for v in y)
        texts += d["texts"]
        if log:
            log(f"{f}: {len(d['train'][2]):,} training and {len(d['valid'][2]):,} valid pairs")
    matcher = PairMatcher(**(matcher_params or {}))
    if db is not None:
        with MatchService(db, matcher, cache_dir=cache_dir) as svc:
            a, b, y = svc.training_pairs()
            L += a
            R += b
            Y += y
            if log:
                log(f"{db}: {len(y):,} curator labels ({sum(y):,} matches)")
            if synthetic:
                idx = svc.index(progress=log is not None)
                tr, va = split_pairs(synthetic_pairs(idx.ids_, idx.listings_, idx, synthetic,
                                                     exclude=set(exclude)))
                for tgt, part in (((L, R, Y), tr), ((VL, VR, VY), va)):
                    tgt[0].extend(part[0])
                    tgt[1].extend(part[1])
                    tgt[2].extend(int(v) for v in part[2])
                texts += [x.text() for x in idx.listings_]
                if log:
                    log(f"synthetic: {len(tr[2]) + len(va[2]):,} pairs from {synthetic:,} "
                        f"catalog products")
    if not Y:
        raise ValueError("train_matcher: no training pairs (give pair folders, curator "
                         "labels or synthetic pairs)")
    valid = (VL, VR, VY) if VY else None
    matcher.fit(L, R, Y, valid=valid, idf_texts=texts + [x.text() for x in (*L, *R)],
                cache_dir=cache_dir, log=log)
    matcher.save(out)
    return matcher


# ----------------------------------------------------------------------------- in the server

def on_curation_worker(curation: Any, fn: Callable[[MatchService], Any]) -> Any:
    """Run ``fn(match_service)`` on the server's curation worker (:class:`assistant.curation.
    CurationService`): the same store connection and thread as every other graph edit, and
    the live service serves the changed graph before this returns."""
    from assistant.graph_sync import ensure_current

    def run(cur: Curator) -> Any:
        changed: list[int] = []
        ms = MatchService(cur.store, on_change=changed.extend)
        out = fn(ms)
        if changed:
            ensure_current(curation.host)  # replays the new audit entries into the service
        return out
    return curation.run(run)
