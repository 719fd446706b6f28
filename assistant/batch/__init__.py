"""Catalog-wide batch scoring: every product of a catalog priced, written as Parquet.

Use::

    pricing score catalog.parquet --policy policy.json --out runs/scores              # local
    pricing score catalog.parquet --policy policy.json --out runs/scores --engine ray --actors 2
    pricing score catalog.parquet --policy policy.json --out runs/scores --engine ray \\
        --address ray://head:10001                                                   # a cluster

or from Python::

    from assistant.batch import LocalEngine, RayEngine, ScoreSettings, score_catalog, read_scores
    settings = ScoreSettings(artifact="runs/model", policy=GuardrailPolicy(max_change=0.1))
    summary = score_catalog("catalog.parquet", "runs/scores", settings, RayEngine(actors=2))
    read_scores("runs/scores")      # one row per product: price, interval, guardrails, ...

Modules, one concept each:

- :mod:`~assistant.batch.settings`: what a run prices with (model, graph, sales, policy);
- :mod:`~assistant.batch.plan`: the catalog cut into blocks, the output folder, resume;
- :mod:`~assistant.batch.scorer`: one block of rows -> suggestions and bad rows (the same
  code on every engine, so the engines agree row for row);
- :mod:`~assistant.batch.engines`: where the blocks run: ``LocalEngine`` (this process) or
  ``RayEngine`` (Ray Data ``map_batches`` over stateful actors, local or on a cluster);
- :mod:`~assistant.batch.run`: ``score_catalog`` ties them together and sums the run up.
"""
from assistant.batch.engines import Engine, LocalEngine, RayEngine
from assistant.batch.plan import read_bad_rows, read_scores
from assistant.batch.run import RunSummary, score_catalog, suggest_with_engine
from assistant.batch.settings import ScoreSettings, policy_from_file

__all__ = ["Engine", "LocalEngine", "RayEngine", "ScoreSettings", "RunSummary", "score_catalog",
           "suggest_with_engine", "read_scores", "read_bad_rows", "policy_from_file"]
