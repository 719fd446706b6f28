"""Continuous learning on a replayed stream with synthetic drift: detection delay, coverage and
RMSLE before the drift, after it, and after gated retraining.

Run::

    .venv/bin/python bench/drift_simulation.py                       # data/demo slice (6,014)
    .venv/bin/python bench/drift_simulation.py --data ../shared/data/amazon_in_2023 --max-products 20000

The scenario (seeded, deterministic given the data):

1. ``amazon_in_2023`` products; one top-level category (``--new-category``, default
   "sports & fitness") is held back entirely. Of the rest, ``--initial-share`` (50%) is the
   initial catalog the champion is trained on (``models.train``, a small demo configuration),
   then registered and promoted in a fresh registry (``models.registry``).
2. The other products arrive as a stream of outcomes over ``--days`` days (~50 a day on the demo
   slice), one outcome per product (sold price = its catalog price). From ``--drift-day`` one
   category's prices (``--drift-category``, default "appliances") are 15% higher
   (``--drift``); from ``--new-day`` the held-back category's products arrive too.
   Each outcome carries the served model's prediction and interval (as
   ``assistant.outcomes`` stores them); new products enter the catalog without a price.
3. ``assistant.monitoring.Monitor`` (the server's code) runs over the champion's predictions
   for the whole stream (as if never retrained); the detection delay is the time from each
   drift's start to its first detector firing (Page-Hinkley on the drifted category's error;
   the new category by ADWIN on the unseen-category stream or an input-drift window), in days
   and in outcomes of the category concerned. Firings the injected drifts do not explain are
   false alarms. A sweep compares Page-Hinkley settings over ``--replays`` day orders of the
   same products and predictions (detection rate, median delay, false alarms per replay).
4. ``--holdout-days`` after the first of the two detections, ``assistant.retrain.retrain``
   trains a challenger on the catalog + the outcomes so far (reusing the champion's encoder),
   judges it against the champion on the latest ``--holdout-days`` days and promotes it if it
   wins; the rest of the stream is served by the champion of the registry.

Prints and writes ``bench/results/drift_simulation.json`` and the plot
``docs/drift_simulation.png`` (served model's RMSLE and coverage per ``--plot-days`` days,
the drifted category's mean log error, and the events).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from assistant.monitoring import Monitor, MonitorConfig, Reference, segment_of  # noqa: E402
from assistant.retrain import GateConfig, retrain  # noqa: E402
from graph.adapters import load_path  # noqa: E402
from graph.build import build_graph  # noqa: E402
from graph.contracts import Catalog  # noqa: E402
from models.metrics import price_metrics  # noqa: E402
from models.predictor import Predictor  # noqa: E402
from models.registry import ModelRegistry  # noqa: E402
from models.train import TrainConfig, train  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "drift_simulation.json"
PLOT = ROOT / "docs" / "drift_simulation.png"
START = pd.Timestamp("2023-03-01")
RECORD = ("product_id", "title", "description", "category_path", "brand", "rating",
          "rating_count", "currency")


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(ROOT / "data" / "demo" / "amazon_in_2023"))
    ap.add_argument("--max-products", type=int, default=None)
    ap.add_argument("--initial-share", type=float, default=0.5)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--drift-day", type=int, default=20)
    ap.add_argument("--drift", type=float, default=0.15)
    ap.add_argument("--drift-category", default="appliances")
    ap.add_argument("--new-day", type=int, default=30)
    ap.add_argument("--new-category", default="sports & fitness")
    ap.add_argument("--holdout-days", type=int, default=7)
    ap.add_argument("--window", default="7D", help="monitoring window")
    ap.add_argument("--plot-days", type=int, default=3)
    ap.add_argument("--ft-max-texts", type=int, default=2000)
    ap.add_argument("--work", default=str(ROOT / "runs" / "drift_sim"))
    ap.add_argument("--cache-dir", default=str(ROOT / "runs" / "cache"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--replays", type=int, default=10, help="day orders for the detector sweep")
    return ap.parse_args()


def records(frame: pd.DataFrame) -> list[dict]:
    out = []
    for r in frame[list(RECORD)].to_dict("records"):
        out.append({k: (None if not isinstance(v, str) and pd.isna(v) else v) for k, v in r.items()})
    return out


def predict(predictor: Predictor, frame: pd.DataFrame, chunk: int = 512) -> pd.DataFrame:
    """The served model's prediction, interval and text embedding for each stream row."""
    p50, lo, hi, emb = [], [], [], []
    recs = records(frame)
    for s in range(0, len(recs), chunk):
        for p in predictor.predict(recs[s:s + chunk]):
            p50.append(p.p50)
            lo.append(p.low)
            hi.append(p.high)
            emb.append(p.embedding.astype(np.float16).astype(np.float32))
    out = frame.copy()
    out["pred_price"], out["pred_low"], out["pred_high"], out["embedding"] = p50, lo, hi, emb
    out["nominal_coverage"] = predictor.calibrator.coverage
    out["model_version"] = predictor.version
    return out


def metrics(f: pd.DataFrame) -> dict | None:
    if len(f) == 0:
        return None
    m = price_metrics(f["sold_price"], f["pred_price"], f["pred_low"], f["pred_high"])
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()}


def main() -> None:  # noqa: C901 - one scenario, told top to bottom
    args = parse()
    t_all = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    # ------------------------------------------------------------------ data and scenario
    cat = load_path(Path(args.data))
    prod = cat.products[cat.products["price"].notna() & (cat.products["price"] > 0)].copy()
    if args.max_products and len(prod) > args.max_products:
        prod = prod.sample(args.max_products, random_state=args.seed)
    prod = prod.reset_index(drop=True)
    seg = prod["category_path"].map(segment_of)
    new = prod[seg == args.new_category]
    rest = prod[seg != args.new_category].sample(frac=1.0, random_state=args.seed)
    n_init = int(len(rest) * args.initial_share)
    initial, old_stream = rest.iloc[:n_init], rest.iloc[n_init:]
    if len(new) == 0 or not (seg == args.drift_category).any():
        raise SystemExit("the new or drifted category is not in the data")
    old_stream = old_stream.assign(day=rng.integers(0, args.days, len(old_stream)))
    new_stream = new.assign(day=rng.integers(args.new_day, args.days, len(new)))
    stream = pd.concat([old_stream, new_stream]).sort_values("day", kind="stable")
    stream = stream.reset_index(drop=True)
    stream["date"] = START + pd.to_timedelta(stream["day"], unit="D")
    drifted = (stream["category_path"].map(segment_of) == args.drift_category) \
        & (stream["day"] >= args.drift_day)
    stream["sold_price"] = stream["price"] * np.where(drifted, 1.0 + args.drift, 1.0)
    stream["units"] = 1
    stream["outcome_id"] = [f"o{i}" for i in range(len(stream))]
    print(f"initial catalog {len(initial)}, stream {len(stream)} ({len(new_stream)} new-category) "
          f"over {args.days} days; {int(drifted.sum())} drifted outcomes")

    # ------------------------------------------------------------------ champion
    cfg = TrainConfig.demo(ft_max_texts=args.ft_max_texts, compare_frozen=False,
                           cache_dir=args.cache_dir, progress=False, save_graph=True)
    t0 = time.perf_counter()
    init_cat = Catalog(products=initial.reset_index(drop=True))
    champion_dir = train(build_graph(init_cat), cfg, work / "champion", log=None)
    t_champion = time.perf_counter() - t0
    registry = ModelRegistry(work / "registry")
    v1 = registry.register(champion_dir, note="initial catalog")
    registry.promote(v1.version, reason="initial model")
    champion = Predictor.load(registry.path(v1.version))
    print(f"champion {v1.version} trained in {t_champion:.0f}s; test "
          f"RMSLE {v1.metrics['test']['rmsle']:.4f}, coverage {v1.metrics['test']['coverage']:.1f}%")

    t0 = time.perf_counter()
    served = predict(champion, stream)
    t_predict = time.perf_counter() - t0
    mcfg = MonitorConfig(window=args.window)
    reference = Reference.from_predictor(champion)

    # Detection is measured on the champion's predictions for the whole stream (what it would
    # have seen without retraining), so a retraining triggered by one drift cannot hide the other.
    champion_stream = served.drop(columns=["price"])
    report = Monitor(reference, mcfg).report(champion_stream)
    dets = report.detections
    drift_date = START + pd.Timedelta(days=args.drift_day)
    new_date = START + pd.Timedelta(days=args.new_day)
    worse = [d for d in dets if d.worse]
    false_alarms = [d for d in worse if pd.Timestamp(d.at) < drift_date]
    drift_det = next((d for d in worse if d.stream == "bias" and d.segment == args.drift_category
                      and d.direction == "up" and pd.Timestamp(d.at) >= drift_date), None)
    new_det = next((d for d in worse if d.stream == "unseen" and pd.Timestamp(d.at) >= new_date),
                   None)
    new_window = next((a for a in report.alerts if a.kind == "input_drift"
                       and pd.Timestamp(a.at) + pd.Timedelta(args.window) > new_date
                       and a.details.get("unseen_share", 0) > 0), None)

    def delay(d, since: pd.Timestamp, segment: str | None) -> dict | None:
        if d is None:
            return None
        at = pd.Timestamp(d.at)
        rows = stream.iloc[: d.index + 1]
        rows = rows[rows["date"] >= since]
        if segment is not None:
            rows = rows[rows["category_path"].map(segment_of) == segment]
        return {"detector": f"{d.detector}/{d.stream}", "at": d.at,
                "days": int((at - since).days), "outcomes": int(len(rows))}

    det_drift = delay(drift_det, drift_date, args.drift_category)
    det_new = delay(new_det, new_date, args.new_category)
    print(f"detections: drift {det_drift}, new category {det_new}, "
          f"new-category window alert {new_window.at if new_window else None}; "
          f"false alarms before the drift: {len(false_alarms)}")

    def expected(d) -> bool:  # noqa: ANN001 - a Detection the injected drifts explain
        at = pd.Timestamp(d.at)
        if d.stream == "bias":
            return (d.segment == args.drift_category and d.direction == "up" and at >= drift_date) \
                or d.segment == args.new_category
        return at >= min(drift_date, new_date)   # global error / coverage / unseen streams

    fired = [d for d in report.detections if d.worse]
    false_fired = [d for d in fired if not expected(d)]
    # Page-Hinkley settings against each other: the same products and predictions replayed in
    # ``--replays`` random day orders (a prediction does not depend on the day), each scored for
    # the delay to the price drift and the firings no injected drift explains.
    preds = served.set_index("product_id")[["pred_price", "pred_low", "pred_high", "embedding",
                                            "nominal_coverage", "model_version"]]
    settings = ((0.10, 25.0), (0.10, 20.0), (0.15, 16.0), (0.15, 12.0), (0.25, 12.0))
    runs: dict[tuple[float, float], list[dict]] = {st: [] for st in settings}
    for r in range(args.replays):
        rr = np.random.default_rng(1000 + r)
        rs = pd.concat([old_stream.assign(day=rr.integers(0, args.days, len(old_stream))),
                        new.assign(day=rr.integers(args.new_day, args.days, len(new)))])
        rs = rs.sort_values("day", kind="stable").reset_index(drop=True)
        rs["date"] = START + pd.to_timedelta(rs["day"], unit="D")
        up = (rs["category_path"].map(segment_of) == args.drift_category) & (rs["day"] >= args.drift_day)
        rs["sold_price"] = rs["price"] * np.where(up, 1.0 + args.drift, 1.0)
        rs["units"] = 1
        rs["outcome_id"] = [f"r{r}o{i}" for i in range(len(rs))]
        rs = rs.join(preds, on="product_id").drop(columns=["price"])
        for st in settings:
            c = MonitorConfig(**{**mcfg.to_dict(), "ph_delta": st[0], "ph_threshold": st[1]})
            ds = [d for d in Monitor(reference, c).report(rs).detections if d.worse]
            hit = next((d for d in ds if d.stream == "bias" and d.segment == args.drift_category
                        and d.direction == "up" and pd.Timestamp(d.at) >= drift_date), None)
            seg = rs["category_path"].map(segment_of)
            n_out = (int(((rs.index <= hit.index) & (rs["date"] >= drift_date)
                          & (seg == args.drift_category)).sum()) if hit else None)
            runs[st].append({"days": (pd.Timestamp(hit.at) - drift_date).days if hit else None,
                             "outcomes": n_out,
                             "false_alarms": sum(not expected(d) for d in ds)})
    sweep = []
    for st, rows in runs.items():
        found_days = [x["days"] for x in rows if x["days"] is not None]
        found_n = [x["outcomes"] for x in rows if x["outcomes"] is not None]
        sweep.append({"ph_delta": st[0], "ph_threshold": st[1], "replays": len(rows),
                      "detected": len(found_days),
                      "median_delay_days": float(np.median(found_days)) if found_days else None,
                      "median_delay_outcomes": float(np.median(found_n)) if found_n else None,
                      "false_alarms_per_replay": round(float(np.mean(
                          [x["false_alarms"] for x in rows])), 2)})
    # ------------------------------------------------------------------ retraining
    # Retrain once the first alert has fired and a holdout's worth of outcomes followed it.
    found = [pd.Timestamp(d["at"]) for d in (det_drift, det_new) if d]
    trigger = min(found) if found else START + pd.Timedelta(days=args.new_day + 7)
    retrain_date = (trigger + pd.Timedelta(days=args.holdout_days)).normalize()
    seen = stream[stream["date"] < retrain_date]
    # The catalog at retraining time: initial products (priced) + every product seen so far,
    # without a price (a new listing's price is what the model suggests); outcomes price them.
    catalog_now = pd.concat([initial, seen[initial.columns].assign(price=np.nan)])
    g = build_graph(Catalog(products=catalog_now.reset_index(drop=True)))
    t0 = time.perf_counter()
    res = retrain(registry, g, seen[["outcome_id", "product_id", "date", "sold_price", "units"]],
                  gate=GateConfig(holdout_days=args.holdout_days, price_window_days=args.days),
                  cache_dir=args.cache_dir, log=None)
    t_retrain = time.perf_counter() - t0
    print(f"retrained at {retrain_date.date()} in {t_retrain:.0f}s: {res.gate.reason}; "
          f"promoted={res.promoted}")
    after = stream["date"] >= retrain_date
    now_served = Predictor.load(registry.champion().path)
    if res.promoted:
        served = pd.concat([served[~after], predict(now_served, stream[after])]).sort_index()
    challenger_after = predict(Predictor.load(res.path), stream[after]) if not res.promoted \
        else served[after]
    champion_after = predict(champion, stream[after]) if res.promoted else served[after]

    # ------------------------------------------------------------------ figures
    phases = {"before_drift": served["date"] < drift_date,
              "after_drift": (served["date"] >= drift_date) & (served["date"] < retrain_date),
              "after_retraining": served["date"] >= retrain_date}
    segs = served["category_path"].map(segment_of)
    figures = {}
    for name, sel in phases.items():
        figures[name] = {
            "all": metrics(served[sel]),
            "drifted_category": metrics(served[sel & (segs == args.drift_category)]),
            "new_category": metrics(served[sel & (segs == args.new_category)]),
            "other": metrics(served[sel & ~segs.isin([args.drift_category, args.new_category])]),
        }
    segs_after = stream.loc[after, "category_path"].map(segment_of)
    counterfactual = {
        "champion_kept": {"all": metrics(champion_after),
                          "drifted_category": metrics(champion_after[segs_after == args.drift_category]),
                          "new_category": metrics(champion_after[segs_after == args.new_category])},
        "challenger": {"all": metrics(challenger_after),
                       "drifted_category": metrics(challenger_after[segs_after == args.drift_category]),
                       "new_category": metrics(challenger_after[segs_after == args.new_category])},
    }
    final = Monitor(reference, mcfg).report(served.drop(columns=["price"]))

    out = {
        "data": args.data, "n_products": int(len(prod)), "initial_catalog": int(len(initial)),
        "stream": int(len(stream)), "days": args.days,
        "scenario": {"drift_category": args.drift_category, "drift": args.drift,
                     "drift_date": str(drift_date.date()), "new_category": args.new_category,
                     "new_date": str(new_date.date()), "n_new": int(len(new_stream)),
                     "n_drifted": int(drifted.sum())},
        "champion": {"version": v1.version, "test": v1.metrics["test"],
                     "train_s": round(t_champion, 1)},
        "detection": {"drifted_category": det_drift, "new_category": det_new,
                      "new_category_window_alert": new_window.at if new_window else None,
                      "false_alarms_before_drift": len(false_alarms),
                      "false_alarms_whole_stream": len(false_fired),  # champion, no retraining
                      "false_alarm_whole_stream_detail": [
                          f"{d.detector}/{d.stream}/{d.segment}/{d.direction}@{d.at}"
                          for d in false_fired],
                      "page_hinkley_sweep": sweep,
                      "false_alarm_detail": [f"{d.detector}/{d.stream}/{d.segment}@{d.at}"
                                             for d in false_alarms],
                      "all_firings": [f"{d.detector}/{d.stream}/{d.segment}/{d.direction}@{d.at}"
                                      for d in worse]},
        "retraining": {"date": str(retrain_date.date()), "version": res.version,
                       "promoted": res.promoted, "gate": res.gate.to_dict(),
                       "n_repriced": res.n_repriced, "seconds": round(t_retrain, 1)},
        "phases": figures, "after_retraining_counterfactual": counterfactual,
        "windows": [w.__dict__ for w in final.windows],
        "monitor_config": mcfg.to_dict(), "predict_stream_s": round(t_predict, 1),
        "total_s": round(time.perf_counter() - t_all, 1),
        "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg(),
                    "python": platform.python_version(),
                    "threads": os.environ.get("PRICING_THREADS")},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")
    plot(served, args, drift_date, new_date, retrain_date, det_drift, det_new, PLOT)

    print(f"\n{'phase':<18}{'n':>6}{'RMSLE':>8}{'±20%':>7}{'cover':>7}   drifted cat RMSLE/cover   "
          f"new cat RMSLE/cover")
    for name, f in figures.items():
        a, d, n = f["all"], f["drifted_category"], f["new_category"]
        dc = f"{d['rmsle']:.3f} / {d['coverage']:.1f}%" if d else "-"
        nc = f"{n['rmsle']:.3f} / {n['coverage']:.1f}%" if n else "-"
        print(f"{name:<18}{a['n']:>6}{a['rmsle']:>8.3f}{a['within_20']:>6.1f}%{a['coverage']:>6.1f}%"
              f"   {dc:<25} {nc}")
    print(f"\nfirings no injected drift explains (champion, whole stream): {len(false_fired)}")
    print(f"Page-Hinkley settings over {args.replays} replays: delta/threshold -> price drift "
          "detected, median delay, false alarms per replay")
    for r in sweep:
        delay_txt = (f"{r['median_delay_days']:.0f} days / {r['median_delay_outcomes']:.0f} outcomes"
                     if r["detected"] else "-")
        print(f"  {r['ph_delta']:.2f}/{r['ph_threshold']:>4.0f}: {r['detected']}/{r['replays']}, "
              f"{delay_txt}, {r['false_alarms_per_replay']:.1f}")
    ck = counterfactual["champion_kept"]["all"]
    print(f"after retraining, had the champion stayed: RMSLE {ck['rmsle']:.3f}, "
          f"coverage {ck['coverage']:.1f}%")
    print(f"wrote {RESULTS.relative_to(ROOT)} and {PLOT.relative_to(ROOT)} "
          f"({out['total_s']:.0f}s)")


def plot(served: pd.DataFrame, args: argparse.Namespace, drift_date: pd.Timestamp,
         new_date: pd.Timestamp, retrain_date: pd.Timestamp, det_drift: dict | None,
         det_new: dict | None, path: Path) -> None:
    from matplotlib.figure import Figure

    f = served.copy()
    f["bucket"] = START + pd.to_timedelta((f["day"] // args.plot_days) * args.plot_days, unit="D")
    f["err"] = np.log1p(f["sold_price"]) - np.log1p(f["pred_price"])
    f["inside"] = (f["sold_price"] >= f["pred_low"]) & (f["sold_price"] <= f["pred_high"])
    g = f.groupby("bucket").agg(rmsle=("err", lambda e: float(np.sqrt(np.mean(e ** 2)))),
                                coverage=("inside", "mean"))
    d = f[f["category_path"].map(segment_of) == args.drift_category].groupby("bucket")["err"].mean()
    fig = Figure(figsize=(10, 7.5), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True)
    ax1.plot(g.index, g["rmsle"], marker="o", color="#b0413e")
    ax1.set_ylabel("RMSLE (served model)")
    ax2.plot(g.index, g["coverage"] * 100, marker="o", color="#1f7a4d")
    ax2.axhspan(70, 90, color="#8fd1ae", alpha=0.3, label="band 70-90%")
    ax2.set_ylabel("coverage (%)")
    ax2.legend(loc="lower left", fontsize=8)
    ax3.plot(d.index, d.values, marker="o", color="#5b7db1")
    ax3.axhline(0, color="grey", lw=0.8)
    ax3.set_ylabel(f"mean log error\n{args.drift_category}")
    events = [(drift_date, f"+{args.drift:.0%} {args.drift_category}", "#6a3d9a", "--"),
              (new_date, f"new: {args.new_category}", "#b35806", "--"),
              (retrain_date, "retrained + promoted", "#1f7a4d", "-")]
    for det, label in ((det_drift, "detected (price drift)"), (det_new, "detected (new category)")):
        if det:
            events.append((pd.Timestamp(det["at"]), label, "#d08c2f", ":"))
    for ax in (ax1, ax2, ax3):
        for at, label, color, ls in events:
            ax.axvline(at, color=color, ls=ls, lw=1.2, label=label if ax is ax1 else None)
    ax1.legend(loc="upper left", fontsize=8, ncol=2)
    ax1.set_title(f"Replayed amazon_in_2023 stream ({len(served)} outcomes, {args.plot_days}-day "
                  "buckets): synthetic drift, detection, gated retraining")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
