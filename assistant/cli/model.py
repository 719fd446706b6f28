"""CLI: train the price model and evaluate a saved one.

Use::

    pricing train data/demo --out runs/model                 # demo configuration
    pricing train ../shared/data/amazon_in_2023 --out runs/full --full
    pricing train ../shared/data/amazon_in_2023 --out runs/prod --full --all   # production
    pricing evaluate runs/model data/demo --part test         # the model's own test slice
    pricing predict runs/model "boAt Airdopes 141 | tv, audio & cameras > Headphones"

``DATA`` is what :func:`graph.adapters.load_path` accepts (a folder of data-set folders, one
data-set folder, or canonical table files). The logic lives in ``models.train`` and
``models.predictor``; this module only wires it to the terminal.
"""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def _metrics_table(title: str, rows: dict[str, dict]) -> Table:
    t = Table(title=title, header_style="bold")
    t.add_column("slice")
    for c in ("n", "RMSLE", "within 20%", "MdAPE", "coverage", "width"):
        t.add_column(c, justify="right")
    for name, m in rows.items():
        if not m:
            continue
        cov = m.get("coverage")
        width = m.get("width")
        t.add_row(name, str(m["n"]), f"{m['rmsle']:.4f}", f"{m['within_20']:.1f}%",
                  f"{m['mdape']:.1f}%", "-" if cov is None else f"{cov:.1f}%",
                  "-" if width is None else f"{width:.2f}")
    return t


def train_cmd(
    data: Path = typer.Argument(..., help="catalog data (folder or file)"),
    out: Path = typer.Option(Path("runs/model"), "--out", help="artifact folder to write"),
    full: bool = typer.Option(False, "--full", help="full-size configuration (larger "
                              "stage-1 sample, 2-model head ensemble)"),
    all_products: bool = typer.Option(False, "--all", help="production: train on every priced "
                                      "product (no test slice); intervals and the abstain "
                                      "threshold are calibrated on a held-out slice"),
    seed: int = typer.Option(0, "--seed", help="seed of split, shuffles and initialisation"),
    no_fine_tune: bool = typer.Option(False, "--no-fine-tune", help="keep the encoder frozen"),
    compare_frozen: bool | None = typer.Option(None, "--compare-frozen/--no-compare-frozen",
                                               help="also score a head on frozen embeddings"),
    threads: int | None = typer.Option(None, "--threads", help="torch threads"),
    config: Path | None = typer.Option(None, "--config", help="JSON with TrainConfig fields"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bars"),
) -> None:
    """Train the price model on DATA and write a self-describing artifact folder."""
    from models.train import TrainConfig, train

    if not data.exists():
        raise typer.BadParameter(f"{data} does not exist", param_hint="DATA")
    kw: dict = {"seed": seed, "progress": not quiet}
    if threads:
        kw["threads"] = threads
    if no_fine_tune:
        kw["fine_tune"] = False
    if compare_frozen is not None:
        kw["compare_frozen"] = compare_frozen
    if config is not None:
        kw.update(json.loads(config.read_text(encoding="utf-8")))
    try:
        cfg = TrainConfig.full(**kw) if full else TrainConfig.demo(**kw)
        if all_products:
            cfg = TrainConfig.all_products(cfg)
    except (TypeError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--config") from None
    path = train(data, cfg, out, log=console.print)
    meta = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
    rows = {p: meta["metrics"][p] for p in ("val", "test") if p in meta["metrics"]}
    if "test_frozen_encoder" in meta["metrics"]:
        rows["test (frozen encoder)"] = meta["metrics"]["test_frozen_encoder"]
    for src, m in meta["metrics"].get("test_by_source", {}).items():
        rows[f"test: {src}"] = m
    console.print(_metrics_table(f"{path} ({meta['timings_s']['total']:.0f} s)", rows))
    ab = meta.get("abstain")
    if ab:
        shares = ", ".join(f"{p} {m['abstain_pct']:.1f}%"
                           for p, m in meta["metrics"].get("abstain", {}).items())
        console.print(f"abstains above {ab['max_relative_width']:.0%} relative interval width "
                      f"(q{ab['quantile']:.0%} of {ab['n']} calibration products, floor "
                      f"{ab['floor']:.0%}): {shares}")
    console.print(f"training: {meta['training']['description']}")


def evaluate_cmd(
    artifact: Path = typer.Argument(..., help="artifact folder written by `pricing train`"),
    data: Path = typer.Argument(..., help="catalog data to score (priced products)"),
    part: str | None = typer.Option(None, "--part", help="only this slice of the model's "
                                    "split: train, val, calib or test"),
    as_json: bool = typer.Option(False, "--json", help="print the metrics as JSON"),
) -> None:
    """Reload a trained model and score the priced products of DATA."""
    from models.train import evaluate

    if part is not None and part not in ("train", "val", "calib", "test"):
        raise typer.BadParameter("use train, val, calib or test", param_hint="--part")
    m = evaluate(artifact, data, part=part)
    if as_json:
        typer.echo(json.dumps(m, indent=2))
    else:
        console.print(_metrics_table(f"{artifact} on {data}", {part or "all": m}))


def predict_cmd(
    artifact: Path = typer.Argument(..., help="artifact folder written by `pricing train`"),
    items: list[str] = typer.Argument(..., help="catalog product ids, or 'title | category'"),
    drivers: bool = typer.Option(False, "--drivers", help="also show what moved the price"),
) -> None:
    """Price catalog products (by id) or new ones ("title | category path")."""
    from models.predictor import Predictor

    pred = Predictor.load(artifact)
    recs: list = []
    for it in items:
        if it in pred._pos:
            recs.append(it)
        else:
            title, _, cat = it.partition("|")
            recs.append({"title": title.strip(), "category_path": cat.strip() or None})
    for it, p in zip(items, pred.predict(recs, drivers=drivers)):
        cur = f" {p.currency}" if p.currency else ""
        line = (f"{it}: {p.p50:,.2f}{cur}  [{p.low:,.2f} – {p.high:,.2f}] "
                f"({p.coverage:.0%} interval)")
        if p.drivers:
            line += "  " + ", ".join(f"{g} {v:+.3f}" for g, v in
                                     sorted(p.drivers.items(), key=lambda x: -abs(x[1])))
        console.print(line)


def register(app: typer.Typer) -> None:
    """Add ``train``, ``evaluate`` and ``predict`` to the ``pricing`` app."""
    app.command("train")(train_cmd)
    app.command("evaluate")(evaluate_cmd)
    app.command("predict")(predict_cmd)
