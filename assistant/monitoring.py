"""Monitoring of the live model on outcomes: error and interval coverage per time window, input
drift per window, change detectors on the streams, and the alerts they raise.

Use::

    curl -H "X-API-Key: $KEY" 'localhost:8000/v1/monitoring?window=7D'   # the summary
    # the Monitoring tab of the UI plots the same report over time

    from assistant.monitoring import Monitor, MonitorConfig, Reference
    monitor = Monitor(Reference.from_predictor(service.predictor), MonitorConfig(window="7D"))
    report = monitor.report(outcome_store.frame(embeddings=True))
    report.windows[-1].rmsle, report.windows[-1].coverage, report.detections, report.alerts

What is measured (``log`` is ``log1p``, the model's own scale):

- per window (``MonitorConfig.window``, a pandas offset such as ``7D``): outcomes ``n``;
  ``rmsle``, ``within_20`` (share within ±20% of the sold price) and ``coverage`` (share of
  sold prices inside the interval) against the prediction stored with each outcome; ``bias``
  (mean of log sold - log predicted: > 0 means prices run above the model); and input drift
  against the serving model's training catalog (:class:`Reference`): ``category_js`` (Jensen-
  Shannon distance of the category mix, 0 = same, 1 = disjoint), ``unseen_share`` (outcomes in
  categories the model never saw), ``price_psi`` (population stability index of log prices
  over the catalog's deciles) and ``embedding_shift`` (1 - cosine between the window's mean
  title embedding and the catalog's).
- change detectors over the outcome stream in date order (river): ADWIN on the absolute log
  error and on the in-interval indicator (alerts when the error rises or coverage falls),
  ADWIN on the unseen-category indicator (a new category arriving), and Page-Hinkley on the
  signed log error of each top-level category (one category's prices moving, which barely
  shows in the global error).
- alerts (:mod:`assistant.alerts`): every detection that signals a worse model or new inputs,
  each window of at least ``min_window`` outcomes whose coverage leaves ``nominal ±
  coverage_tolerance``, and each such window whose input drift passes its threshold. Each alert
  has a stable ``key``, so re-running the report over the same outcomes sends nothing twice
  (:class:`assistant.alerts.AlertLog` keeps the sent keys).

The report is recomputed from the stored outcomes on each call (thousands of outcomes take
milliseconds to a second); ``Monitor.report(..., limit)`` callers keep it bounded.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from river import drift

from assistant.alerts import Alert

SEGMENT_SEPARATOR = " > "
NONE_SEGMENT = "(none)"


@dataclass
class MonitorConfig:
    """Windows, bands and detector settings; defaults suit daily to weekly review."""

    window: str = "7D"                 # pandas offset alias of one window
    coverage_tolerance: float = 0.10   # coverage band: nominal ± this (absolute share)
    min_window: int = 30               # fewer outcomes: plotted, but no band / drift alert
    # ADWIN: the confidence of its "the mean changed" test; smaller = fewer false alarms, slower.
    adwin_delta: float = 0.002
    adwin_clock: int = 8               # test every this many outcomes (river's default is 32)
    # Page-Hinkley on each top-level category's signed log error, in units of the stream's
    # robust scale (MAD of the first ``scale_warmup`` errors) and clipped at ±3: a drift of more
    # than ``ph_delta`` per outcome accumulates until it passes ``ph_threshold``. A small delta
    # with a high threshold suits the small shifts that matter (a 15% price move is ~0.25
    # scale units for a model with RMSLE ~0.6). On iid noise (river's PageHinkley, 20 seeds):
    # 0.10 / 25 raised one false alarm per ~4,400 outcomes of a category and direction and
    # flagged a 0.25-unit shift after a median 140 outcomes; 0.15 / 12: one per ~750, 55
    # outcomes; 0.25 / 12: one per ~2,700, 310 outcomes. bench/drift_simulation.py compares
    # them on a replayed stream.
    ph_delta: float = 0.10
    ph_threshold: float = 25.0
    ph_min_instances: int = 30
    scale_warmup: int = 200
    error_clip: float = 3.0            # |log error| above this counts as this (one absurd row)
    # Input-drift thresholds for a window alert.
    category_js: float = 0.35
    unseen_share: float = 0.05
    price_psi: float = 0.25
    embedding_shift: float = 0.05

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def segment_of(category_path: Any) -> str:
    """Top-level category of a path ("A > B" -> "A"); missing -> "(none)"."""
    if not isinstance(category_path, str) or not category_path.strip():
        return NONE_SEGMENT
    return category_path.split(SEGMENT_SEPARATOR)[0].strip()


@dataclass
class Reference:
    """What the serving model was trained on: the baseline for input drift."""

    category_shares: dict[str, float]   # leaf category paths (for unseen categories)
    segment_shares: dict[str, float]    # top-level categories (for the category mix)
    price_edges: list[float]          # inner decile edges of log1p(price)
    mean_embedding: list[float] | None
    nominal_coverage: float
    model_version: str = ""

    @classmethod
    def from_predictor(cls, predictor: Any) -> Reference:
        """From a loaded ``models.predictor.Predictor``: the categories of its whole catalog
        snapshot (what it knows), the prices and embeddings of its training rows (all priced
        rows when the snapshot has no split column)."""
        cat = predictor.catalog_
        rows = np.ones(len(cat), dtype=bool)
        if "split" in cat.columns and (cat["split"] == "train").any():
            rows = (cat["split"] == "train").to_numpy()
        price = pd.to_numeric(cat["price"], errors="coerce").to_numpy(dtype=np.float64)
        priced = rows & np.isfinite(price) & (price > 0)
        emb = predictor.catalog_embeddings_
        mean = (emb[priced].astype(np.float64).mean(axis=0).tolist()
                if emb is not None and priced.any() else None)
        return cls.from_data(cat["category_path"].tolist(), price[priced], mean,
                             float(predictor.calibrator.coverage), predictor.version)

    @classmethod
    def from_data(cls, category_paths: Sequence[Any], prices: Sequence[float],
                  mean_embedding: Sequence[float] | None, nominal_coverage: float,
                  model_version: str = "") -> Reference:
        """``category_paths``: what the model knows; ``prices``: its training prices."""
        cats = pd.Series([_leaf(c) for c in category_paths], dtype=object)
        shares = cats.value_counts(normalize=True).to_dict() if len(cats) else {}
        segs = pd.Series([segment_of(c) for c in category_paths], dtype=object)
        seg_shares = segs.value_counts(normalize=True).to_dict() if len(segs) else {}
        logp = np.log1p(np.asarray(prices, dtype=np.float64))
        edges = np.quantile(logp, np.linspace(0.1, 0.9, 9)).tolist() if len(logp) else []
        return cls({str(k): float(v) for k, v in shares.items()},
                   {str(k): float(v) for k, v in seg_shares.items()}, edges,
                   list(mean_embedding) if mean_embedding is not None else None,
                   nominal_coverage, model_version)


def _leaf(category_path: Any) -> str:
    return category_path.strip() if isinstance(category_path, str) and category_path.strip() \
        else NONE_SEGMENT


@dataclass
class WindowStats:
    start: str
    end: str
    n: int
    rmsle: float | None
    within_20: float | None       # %
    coverage: float | None        # %
    width: float | None           # mean (high - low) / predicted
    bias: float | None            # mean log1p(sold) - log1p(predicted)
    category_js: float | None
    unseen_share: float | None    # %
    price_psi: float | None
    embedding_shift: float | None
    feedback: dict[str, int] = field(default_factory=dict)


@dataclass
class Detection:
    detector: str                 # adwin | page_hinkley
    stream: str                   # error | coverage | unseen | bias
    segment: str                  # "all" or a top-level category
    index: int                    # position in the outcome stream (0-based)
    at: str                       # date of the outcome that triggered it
    outcome_id: str | None
    before: float | None          # stream mean before / after the change
    after: float | None
    worse: bool                   # the change means a worse model or unseen inputs
    direction: str = ""           # "up" / "down": which way the stream's mean moved


@dataclass
class MonitoringReport:
    n: int
    model_versions: list[str]
    nominal_coverage: float
    band: tuple[float, float]     # coverage band, %
    overall: WindowStats | None
    windows: list[WindowStats]
    detections: list[Detection]
    alerts: list[Alert]
    config: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["alerts"] = [a.to_dict() for a in self.alerts]
        return d


def _js_distance(p: dict[str, float], q: dict[str, float]) -> float:
    keys = sorted(set(p) | set(q))
    a = np.array([p.get(k, 0.0) for k in keys])
    b = np.array([q.get(k, 0.0) for k in keys])
    m = (a + b) / 2

    def kl(x: np.ndarray, y: np.ndarray) -> float:
        nz = x > 0
        return float(np.sum(x[nz] * np.log2(x[nz] / y[nz])))

    return float(math.sqrt(max(0.0, (kl(a, m) + kl(b, m)) / 2)))


def _psi(edges: Sequence[float], logp: np.ndarray) -> float:
    """PSI of ``logp`` against the reference deciles (each reference bin holds 10%)."""
    bins = np.searchsorted(np.asarray(edges), logp, side="right")
    k = len(edges) + 1
    obs = np.bincount(bins, minlength=k) / max(len(logp), 1)
    exp = np.full(k, 1.0 / k)
    obs = np.clip(obs, 1e-4, None)
    return float(np.sum((obs - exp) * np.log(obs / exp)))


class Monitor:
    """Turns an outcome frame (:meth:`assistant.outcomes.OutcomeStore.frame`) into a report."""

    def __init__(self, reference: Reference, config: MonitorConfig | None = None) -> None:
        self.reference = reference
        self.config = config or MonitorConfig()

    # -------------------------------------------------------------- windows
    def _window(self, w: pd.DataFrame, start: Any, end: Any) -> WindowStats:
        ref = self.reference
        n = len(w)
        if n == 0:
            return WindowStats(str(start), str(end), 0, *([None] * 9))
        y = np.log1p(w["sold_price"].to_numpy(np.float64))
        p = np.log1p(w["pred_price"].to_numpy(np.float64))
        err = y - p
        sold = w["sold_price"].to_numpy(np.float64)
        pred = w["pred_price"].to_numpy(np.float64)
        lo = w["pred_low"].to_numpy(np.float64)
        hi = w["pred_high"].to_numpy(np.float64)
        leaf = [_leaf(c) for c in w["category_path"]]
        mix = pd.Series([segment_of(c) for c in w["category_path"]],
                        dtype=object).value_counts(normalize=True).to_dict()
        unseen = float(np.mean([c not in ref.category_shares for c in leaf]) * 100)
        emb_shift = None
        if ref.mean_embedding is not None and "embedding" in w.columns:
            embs = [e for e in w["embedding"] if e is not None and len(e) == len(ref.mean_embedding)]
            if embs:
                m = np.mean(np.stack(embs), axis=0)
                r = np.asarray(ref.mean_embedding)
                den = float(np.linalg.norm(m) * np.linalg.norm(r))
                emb_shift = round(1.0 - float(m @ r) / den, 5) if den > 0 else None
        fb: dict[str, int] = {}
        if "feedback_verdict" in w.columns:
            fb = {str(k): int(v) for k, v in w["feedback_verdict"].dropna().value_counts().items()}
        return WindowStats(
            start=str(pd.Timestamp(start).date()), end=str(pd.Timestamp(end).date()), n=n,
            rmsle=round(float(np.sqrt(np.mean(err ** 2))), 5),
            within_20=round(float(np.mean(np.abs(pred - sold) / sold <= 0.2 + 1e-12) * 100), 2),
            coverage=round(float(np.mean((sold >= lo) & (sold <= hi)) * 100), 2),
            width=round(float(np.mean((hi - lo) / np.maximum(pred, 1e-9))), 4),
            bias=round(float(np.mean(err)), 5),
            category_js=round(_js_distance(mix, ref.segment_shares), 4) if ref.segment_shares else None,
            unseen_share=round(unseen, 2),
            price_psi=round(_psi(ref.price_edges, y), 4) if ref.price_edges else None,
            embedding_shift=emb_shift, feedback=fb)

    # ------------------------------------------------------------ detectors
    def _detect(self, f: pd.DataFrame) -> list[Detection]:
        cfg = self.config
        y = np.log1p(f["sold_price"].to_numpy(np.float64))
        p = np.log1p(f["pred_price"].to_numpy(np.float64))
        err = np.clip(y - p, -cfg.error_clip, cfg.error_clip)
        sold = f["sold_price"].to_numpy(np.float64)
        inside = ((sold >= f["pred_low"].to_numpy(np.float64))
                  & (sold <= f["pred_high"].to_numpy(np.float64))).astype(float)
        unseen = np.array([_leaf(c) not in self.reference.category_shares
                           for c in f["category_path"]], dtype=float)
        segments = [segment_of(c) for c in f["category_path"]]
        dates = [str(pd.Timestamp(d).date()) for d in f["date"]]
        ids = f["outcome_id"].tolist() if "outcome_id" in f.columns else [None] * len(f)

        def adwin() -> drift.ADWIN:
            return drift.ADWIN(delta=cfg.adwin_delta, clock=cfg.adwin_clock)

        # stream -> (values, detector, "worse" when the mean goes up)
        streams = {"error": (np.abs(err), adwin(), True),
                   "coverage": (inside, adwin(), False),
                   "unseen": (unseen, adwin(), True)}
        out: list[Detection] = []
        for name, (vals, det, up_is_worse) in streams.items():
            for i, v in enumerate(vals):
                before = det.estimation
                det.update(float(v))
                if det.drift_detected:
                    after = det.estimation
                    worse = after > before if up_is_worse else after < before
                    out.append(Detection("adwin", name, "all", i, dates[i], ids[i],
                                         round(float(before), 4), round(float(after), 4), worse,
                                         "up" if after > before else "down"))
        # Page-Hinkley per top-level category, both directions (one per direction, so the
        # detection says which way the category's prices moved), on standardised errors.
        warm = err[:cfg.scale_warmup]
        scale = float(1.4826 * np.median(np.abs(warm - np.median(warm)))) if len(warm) else 0.0
        scale = scale if scale > 1e-6 else (float(np.std(warm)) or 1.0)
        z = np.clip(err / scale, -3.0, 3.0)
        ph: dict[tuple[str, str], drift.PageHinkley] = {}
        seen: dict[str, list[float]] = {}
        for i, (s, e) in enumerate(zip(segments, err)):
            hist = seen.setdefault(s, [])
            hist.append(float(e))
            for mode in ("up", "down"):
                d = ph.get((s, mode))
                if d is None:
                    d = ph[(s, mode)] = drift.PageHinkley(
                        min_instances=cfg.ph_min_instances, delta=cfg.ph_delta,
                        threshold=cfg.ph_threshold, mode=mode)
                d.update(float(z[i]))
                if d.drift_detected:
                    k = cfg.ph_min_instances
                    before = hist[:-k]
                    out.append(Detection("page_hinkley", "bias", s, i, dates[i], ids[i],
                                         round(float(np.mean(before)), 4) if before else None,
                                         round(float(np.mean(hist[-k:])), 4), True, mode))
                    hist[:] = []  # the detector restarts; so does its "before"
        out.sort(key=lambda d: d.index)
        return out

    # --------------------------------------------------------------- report
    def report(self, frame: pd.DataFrame) -> MonitoringReport:
        """The report over ``frame`` (columns of ``OutcomeStore.frame``; ``embedding`` optional)."""
        cfg = self.config
        ref = self.reference
        nominal = ref.nominal_coverage
        band = (round(max(0.0, nominal - cfg.coverage_tolerance) * 100, 2),
                round(min(1.0, nominal + cfg.coverage_tolerance) * 100, 2))
        f = frame.copy()
        if len(f) and "nominal_coverage" in f.columns and f["nominal_coverage"].notna().any():
            nominal = float(f["nominal_coverage"].dropna().iloc[-1])
            band = (round(max(0.0, nominal - cfg.coverage_tolerance) * 100, 2),
                    round(min(1.0, nominal + cfg.coverage_tolerance) * 100, 2))
        f = f[f["pred_price"].notna()] if len(f) else f
        if len(f) == 0:
            return MonitoringReport(0, [], nominal, band, None, [], [], [], cfg.to_dict())
        f["date"] = pd.to_datetime(f["date"])
        f = f.sort_values("date", kind="stable").reset_index(drop=True)
        windows = []
        for start, w in f.groupby(pd.Grouper(key="date", freq=cfg.window), sort=True):
            if len(w):
                end = pd.Timestamp(start) + to_offset(cfg.window) - pd.Timedelta(days=1)
                windows.append(self._window(w, start, end))
        overall = self._window(f, f["date"].iloc[0], f["date"].iloc[-1])
        detections = self._detect(f)
        alerts = self._alerts(windows, detections, band)
        versions = [str(v) for v in pd.unique(f["model_version"].dropna())] \
            if "model_version" in f.columns else []
        return MonitoringReport(len(f), versions, nominal, band, overall, windows, detections,
                                alerts, cfg.to_dict())

    def _alerts(self, windows: list[WindowStats], detections: list[Detection],
                band: tuple[float, float]) -> list[Alert]:
        cfg = self.config
        out: list[Alert] = []
        what = {"error": "the model's error rose", "coverage": "interval coverage fell",
                "unseen": "outcomes in categories the model never saw increased",
                "bias": "prices moved away from the model"}
        for d in detections:
            if not d.worse:
                continue
            seg = "" if d.segment == "all" else f" in {d.segment!r}"
            if d.stream == "bias":
                way = "rose" if d.direction == "up" else "fell"
                was = "" if d.before is None else f"{d.before:+.3f} -> "
                msg = (f"{d.detector}: prices{seg} {way} relative to the model (mean log "
                       f"error {was}{d.after:+.3f} over its last outcomes)")
            else:
                msg = f"{d.detector}: {what[d.stream]}{seg} ({d.before} -> {d.after})"
            out.append(Alert(kind=f"detector_{d.stream}", message=msg, at=d.at,
                             key=f"{d.detector}:{d.stream}:{d.segment}:{d.outcome_id or d.index}",
                             details=asdict(d)))
        for w in windows:
            if w.n < cfg.min_window:
                continue
            if w.coverage is not None and not band[0] <= w.coverage <= band[1]:
                out.append(Alert(kind="coverage_band", at=w.start, key=f"coverage_band:{w.start}",
                                 message=f"coverage {w.coverage:.1f}% in the window from "
                                         f"{w.start} (n={w.n}) is outside {band[0]:.0f}-{band[1]:.0f}%",
                                 details=asdict(w)))
            drifted = {k: getattr(w, k) for k in ("category_js", "unseen_share", "price_psi",
                                                  "embedding_shift")
                       if getattr(w, k) is not None
                       and getattr(w, k) > (getattr(cfg, k) * (100 if k == "unseen_share" else 1))}
            if drifted:
                out.append(Alert(kind="input_drift", at=w.start, key=f"input_drift:{w.start}",
                                 message=f"inputs drifted in the window from {w.start} (n={w.n}): "
                                         + ", ".join(f"{k} {v:g}" for k, v in drifted.items()),
                                 details=asdict(w)))
        out.sort(key=lambda a: a.at)
        return out
