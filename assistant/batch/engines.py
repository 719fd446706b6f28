"""Where the blocks of a batch run are scored: this process, or Ray.

Use::

    engine = LocalEngine()                                  # today's vectorised batch, in process
    engine = RayEngine(actors=2)                            # a local Ray instance, 2 actors
    engine = RayEngine(actors=32, address="ray://head:10001")   # a running cluster
    engine.run(settings, blocks, out, on_block)             # on_block(BlockResult) per block done

``RayEngine`` is Ray Data: the blocks to do become a dataset (one descriptor per block),
``map_batches`` runs them on a pool of stateful actors — each loads the model, graph and
sales once (:class:`BlockScorer`) and then reads, scores and writes block after block — and
the driver streams the per-block results back for progress. Ray schedules, retries and
restarts actors; nothing here distributes work by hand.

On a cluster the workers need the project's packages and dependencies (a cluster image with
``pip install pricing-assistant``; with ``ship_code`` the driver also sends its own
``assistant``, ``graph``, ``models`` and ``prompts`` packages) and the same paths for the model,
the catalog and the output folder (a shared file system).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from assistant.batch.plan import Block
from assistant.batch.scorer import BlockResult, BlockScorer
from assistant.batch.settings import ScoreSettings

OnBlock = Callable[[BlockResult], None]


class Engine(Protocol):
    """Scores blocks and reports each one as it finishes."""

    name: str
    workers: int

    def run(self, settings: ScoreSettings, blocks: Sequence[Block], out: Path,
            on_block: OnBlock) -> None: ...


class LocalEngine:
    """Blocks one after another in this process (``service``: reuse an already loaded one)."""

    name = "local"
    workers = 1

    def __init__(self, service: Any | None = None) -> None:
        self.service = service

    def run(self, settings: ScoreSettings, blocks: Sequence[Block], out: Path,
            on_block: OnBlock) -> None:
        if not blocks:
            return
        scorer = BlockScorer(settings, self.service)
        for b in blocks:
            on_block(scorer.run_block(b, out))


class _RayBlockWorker:
    """The stateful transform of ``map_batches``: one per actor, the model loaded once."""

    def __init__(self, settings: dict[str, Any], out: str) -> None:
        self.scorer = BlockScorer(ScoreSettings.model_validate(settings))
        self.out = out

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        results = []
        for i in range(len(batch["index"])):
            block = Block.from_dict({k: batch[k][i] for k in batch})
            r = self.scorer.run_block(block, self.out).to_dict()
            r["error"] = r["error"] or ""  # one column type in every batch (no all-null column)
            results.append(r)
        return {k: [r[k] for r in results] for k in results[0]} if results else {}


class RayEngine:
    """Ray Data ``map_batches`` over ``actors`` stateful actors of ``cpus_per_actor`` CPUs.

    ``address``: None starts a local Ray instance (``actors`` CPUs) for the run and stops it
    afterwards; "auto", "HOST:6379" or "ray://HOST:10001" joins a running cluster. An
    instance already started by the caller (``ray.init``) is used as it is and left running.
    """

    name = "ray"

    def __init__(self, actors: int = 2, address: str | None = None, cpus_per_actor: float = 1.0,
                 ship_code: bool | None = None) -> None:
        if actors < 1:
            raise ValueError(f"actors must be at least 1, got {actors}")
        self.workers = actors
        self.address = address
        self.cpus_per_actor = cpus_per_actor
        # Sending our packages matters on a cluster; a local instance imports them from here.
        self.ship_code = address is not None if ship_code is None else ship_code

    def _init(self) -> bool:
        import ray

        if ray.is_initialized():
            return False
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if self.address is None:
            kw["num_cpus"] = max(1, int(round(self.workers * self.cpus_per_actor)))
        ray.init(address=self.address, **kw)
        return True

    def _runtime_env(self) -> dict[str, Any]:
        import assistant
        import graph
        import models
        import prompts

        root = str(Path(assistant.__file__).resolve().parents[1])
        # Threads per worker come from the settings; keep BLAS/OpenMP pools from oversubscribing.
        env: dict[str, Any] = {"env_vars": {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
                                            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}}
        if self.ship_code:
            env["py_modules"] = [assistant, graph, models, prompts]
        else:  # a local instance: workers import this checkout, as the driver does
            env["env_vars"]["PYTHONPATH"] = root
        return env

    def run(self, settings: ScoreSettings, blocks: Sequence[Block], out: Path,
            on_block: OnBlock) -> None:
        if not blocks:
            return
        import ray

        started = self._init()
        try:
            ctx = ray.data.DataContext.get_current()
            ctx.enable_progress_bars = False  # the caller shows progress per block
            ctx.verbose_progress = False
            ds = ray.data.from_items([b.to_dict() for b in blocks],
                                     override_num_blocks=len(blocks))
            ds = ds.map_batches(
                _RayBlockWorker, batch_size=1, batch_format="numpy",
                fn_constructor_kwargs={"settings": settings.model_dump(mode="json"),
                                       "out": str(out)},
                # a fixed pool; two blocks queued per actor keep it busy without piling
                # work onto one actor at the end of the run
                compute=ray.data.ActorPoolStrategy(size=min(self.workers, len(blocks)),
                                                   max_tasks_in_flight_per_actor=2),
                num_cpus=self.cpus_per_actor,
                # per actor, so that it holds on an instance the caller started too
                runtime_env=self._runtime_env())
            for row in ds.iter_rows():
                r = {k: _py(v) for k, v in row.items()}
                on_block(BlockResult(**{**r, "error": r["error"] or None}))
        finally:
            if started:
                ray.shutdown()


def _py(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v
