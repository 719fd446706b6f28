"""Retraining behind a gate: a challenger trained on the catalog + recent outcomes replaces the
champion only when it beats it on the most recent outcomes, which it never saw.

Use::

    pricing retrain --registry runs/registry --db runs/graph.sqlite \\
        --outcomes runs/suggestions.sqlite --holdout-days 7      # trains, gates, promotes

    from assistant.retrain import GateConfig, retrain
    result = retrain(registry, graph, outcome_store.frame(), gate=GateConfig(holdout_days=7))
    result.gate.passed, result.gate.champion, result.gate.challenger, result.promoted

Steps:

1. Split the outcomes in time: the last ``holdout_days`` days are the holdout; outcomes in the
   ``price_window_days`` before it reprice their products in a copy of the catalog graph (the
   units-weighted median sold price: what the product sells at now). Products the catalog
   does not hold cannot be trained on (counted in ``skipped_outcomes``).
2. Train the challenger with the champion's TrainConfig (``models.train``), reusing the
   champion's fine-tuned encoder and its stored embeddings for every product whose text is
   unchanged (``TrainConfig.encoder_from``; only new texts are encoded, through ``cache_dir``).
3. Price the holdout outcomes with both models on the same graph and compare (``models.metrics``).
   The challenger passes when its RMSLE is lower by more than ``min_gain`` and its coverage is
   inside ``nominal ± coverage_tolerance`` (or at least no worse than the champion's).
4. Register the challenger (always, with the gate's verdict, so a refused model stays
   inspectable) and promote it when it passed. A server watching the registry switches to it
   (:mod:`assistant.learning`).
"""
from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from graph.products import product_table
from models.metrics import price_metrics
from models.predictor import Predictor
from models.registry import ModelRegistry, ModelVersion
from models.train import TrainConfig, train


class RetrainError(ValueError):
    """Retraining cannot run (no champion, too few holdout outcomes, ...)."""


@dataclass
class GateConfig:
    """How the challenger is trained and judged."""

    holdout_days: int = 7           # the most recent days of outcomes, never trained on
    min_holdout: int = 30           # fewer holdout outcomes: no verdict (RetrainError)
    price_window_days: int = 60     # outcomes this recent (before the holdout) set prices
    min_gain: float = 0.0           # RMSLE the challenger must win by (absolute, log units)
    coverage_tolerance: float = 0.10


@dataclass
class GateResult:
    passed: bool
    reason: str
    cutoff: str                     # first day of the holdout
    n_holdout: int
    champion: dict[str, Any]        # price_metrics of the champion on the holdout
    challenger: dict[str, Any]
    champion_version: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RetrainResult:
    version: str
    path: Path
    gate: GateResult
    promoted: bool
    n_repriced: int                 # catalog products whose price outcomes set
    skipped_outcomes: int           # training-window outcomes for products not in the catalog
    seconds: dict[str, float] = field(default_factory=dict)


def holdout_cutoff(outcomes: pd.DataFrame, holdout_days: int) -> pd.Timestamp:
    """First day of the holdout: ``holdout_days`` days back from the latest outcome."""
    last = pd.to_datetime(outcomes["date"]).max()
    return (last - pd.Timedelta(days=holdout_days - 1)).normalize()


def reprice_graph(graph: nx.MultiDiGraph, outcomes: pd.DataFrame) -> tuple[nx.MultiDiGraph, int, int]:
    """A copy of ``graph`` where each product with outcomes takes its units-weighted median sold
    price. Returns (graph, products repriced, outcomes whose product is not in the graph)."""
    g = graph.copy()
    repriced = skipped = 0
    for pid, rows in outcomes.groupby("product_id", sort=False):
        nid = f"product:{pid}"
        if nid not in g:
            skipped += len(rows)
            continue
        g.nodes[nid]["price"] = _weighted_median(rows["sold_price"].to_numpy(np.float64),
                                                 rows["units"].to_numpy(np.float64))
        repriced += 1
    return g, repriced, skipped


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    v, w = values[order], weights[order]
    c = np.cumsum(w)
    return float(v[np.searchsorted(c, c[-1] / 2.0)])


def holdout_metrics(predictor: Predictor, graph: nx.MultiDiGraph, holdout: pd.DataFrame
                    ) -> dict[str, Any]:
    """``price_metrics`` of ``predictor`` on the holdout outcomes (products priced from
    ``graph``'s records; products it does not hold by their id in the model's catalog)."""
    table = product_table(graph).set_index("product_id", drop=False)
    recs: list[Any] = []
    for pid in holdout["product_id"]:
        if pid in table.index:
            row = table.loc[pid]
            rec = {k: (None if not isinstance(row[k], (list, str)) and pd.isna(row[k]) else row[k])
                   for k in ("product_id", "title", "description", "category_path", "brand",
                             "rating", "rating_count", "currency")}
            rec["reviews"] = list(row["review_texts"] or [])
            recs.append(rec)
        else:
            recs.append(pid)
    preds = predictor.predict(recs)
    m = price_metrics(holdout["sold_price"].to_numpy(np.float64), [p.p50 for p in preds],
                      [p.low for p in preds], [p.high for p in preds])
    m["nominal_coverage"] = float(predictor.calibrator.coverage) * 100
    return m


def judge(champion: dict[str, Any], challenger: dict[str, Any], gate: GateConfig) -> tuple[bool, str]:
    """The gate's verdict and its reason in one sentence."""
    gain = champion["rmsle"] - challenger["rmsle"]
    nominal = challenger.get("nominal_coverage", 80.0)
    low = nominal - gate.coverage_tolerance * 100
    high = nominal + gate.coverage_tolerance * 100
    cov, cov_champ = challenger["coverage"], champion["coverage"]
    if gain <= gate.min_gain:
        return False, (f"challenger RMSLE {challenger['rmsle']:.4f} does not beat the champion's "
                       f"{champion['rmsle']:.4f} by more than {gate.min_gain:g}")
    if not low <= cov <= high and abs(cov - nominal) > abs(cov_champ - nominal):
        return False, (f"challenger coverage {cov:.1f}% is outside {low:.0f}-{high:.0f}% and "
                       f"further from {nominal:.0f}% than the champion's {cov_champ:.1f}%")
    return True, (f"challenger RMSLE {challenger['rmsle']:.4f} < champion {champion['rmsle']:.4f}"
                  f" (gain {gain:.4f}); coverage {cov:.1f}% (champion {cov_champ:.1f}%)")


def retrain(registry: ModelRegistry, graph: nx.MultiDiGraph, outcomes: pd.DataFrame, *,
            gate: GateConfig | None = None, overrides: dict[str, Any] | None = None,
            cache_dir: str | Path | None = "runs/cache", promote: bool = True,
            log: Callable[[str], None] | None = print) -> RetrainResult:
    """Train a challenger on ``graph`` repriced by ``outcomes``, gate it, register it and (if it
    passed and ``promote``) promote it. ``overrides``: TrainConfig fields to change."""
    gate = gate or GateConfig()
    say = log or (lambda s: None)
    champ = registry.champion()
    if champ is None:
        raise RetrainError("the registry has no champion: register and promote a model first "
                           "(`pricing models register DIR` then `pricing models promote VERSION`)")
    if len(outcomes) == 0:
        raise RetrainError("no outcomes recorded yet: nothing to retrain on")
    t0 = time.perf_counter()
    f = outcomes.copy()
    f["date"] = pd.to_datetime(f["date"])
    cutoff = holdout_cutoff(f, gate.holdout_days)
    holdout = f[f["date"] >= cutoff]
    if len(holdout) < gate.min_holdout:
        raise RetrainError(f"only {len(holdout)} outcomes in the holdout (from {cutoff.date()}); "
                           f"at least {gate.min_holdout} are needed to judge a challenger")
    recent = f[(f["date"] < cutoff) & (f["date"] >= cutoff - pd.Timedelta(days=gate.price_window_days))]
    g, n_repriced, skipped = reprice_graph(graph, recent)
    say(f"holdout from {cutoff.date()}: {len(holdout)} outcomes; {n_repriced} products repriced "
        f"from {len(recent)} earlier outcomes ({skipped} for products not in the catalog)")

    cfg_dict = {k: v for k, v in champ.config.items() if k in TrainConfig.__dataclass_fields__}
    cfg_dict.update(compare_frozen=False, encoder_from=str(champ.path),
                    cache_dir=str(cache_dir) if cache_dir else None, progress=False)
    cfg_dict.update(overrides or {})
    cfg = TrainConfig.from_dict(cfg_dict)
    work = Path(tempfile.mkdtemp(prefix=".incoming-", dir=registry.root))
    try:
        path = train(g, cfg, work / "model", log=say)
        t_train = time.perf_counter()
        challenger = Predictor.load(path)
        champion = Predictor.load(champ.path)
        m_champ = holdout_metrics(champion, g, holdout)
        m_chall = holdout_metrics(challenger, g, holdout)
        passed, reason = judge(m_champ, m_chall, gate)
        verdict = GateResult(passed, reason, str(cutoff.date()), len(holdout), m_champ, m_chall,
                             champ.version)
        say(("PASSED: " if passed else "REFUSED: ") + reason)
        if challenger.version in {v.version for v in registry.list()}:
            raise RetrainError(f"the challenger is identical to registered version "
                               f"{challenger.version} (same data and configuration)")
        del challenger, champion
        mv: ModelVersion = registry.register(path, gate=verdict.to_dict(), parent=champ.version,
                                             note=f"retrained on outcomes before {cutoff.date()}",
                                             move=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    promoted = False
    if passed and promote:
        registry.promote(mv.version, reason=reason)
        promoted = True
    return RetrainResult(mv.version, mv.path, verdict, promoted, n_repriced, skipped,
                         {"train": round(t_train - t0, 2), "total": round(time.perf_counter() - t0, 2)})
