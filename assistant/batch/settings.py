"""What a batch run prices with: the model, the graph, the sales history and the policy.

Use::

    settings = ScoreSettings(artifact="runs/model", graph_db="runs/graph.sqlite",
                             policy=policy_from_file("policy.json"))
    service = settings.load_service()           # what each worker (actor) loads once
    settings.fingerprint()                      # what must not change between a run and its resume

The settings travel to every worker as plain JSON (``model_dump(mode="json")``), so paths
are made absolute here: on a cluster they must name the same files on every node (a shared
file system).
"""
from __future__ import annotations

import gc
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from assistant.guardrails import GuardrailPolicy
from assistant.suggestion import SuggestOptions


class PolicyFileError(ValueError):
    """A policy file that cannot be read or breaks a GuardrailPolicy rule (names the field)."""


def policy_from_file(path: str | Path | None) -> GuardrailPolicy:
    """A JSON file with the API's policy fields (``GuardrailPolicy``); None: no rules."""
    if path is None:
        return GuardrailPolicy()
    p = Path(path)
    try:
        fields = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyFileError(f"{p}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise PolicyFileError(f"{p}: not JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(fields, dict):
        raise PolicyFileError(f"{p}: expected a JSON object of policy fields")
    try:
        return GuardrailPolicy.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise PolicyFileError(f"{p}: policy.{'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def path_fingerprint(path: str | Path | None) -> list[list[Any]]:
    """[relative name, size, mtime_ns] of a file, or of every file under a folder: a resumed
    run refuses to mix outputs made from different inputs."""
    if path is None:
        return []
    p = Path(path)
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else []
    out = []
    for f in files:
        st = f.stat()
        out.append([str(f.relative_to(p)) if f != p else f.name, st.st_size, st.st_mtime_ns])
    return out


class ScoreSettings(BaseModel):
    """The inputs of a batch run besides the catalog. Explanations are never written in
    batch (each one is an LLM call); the deterministic evidence is."""

    artifact: str = Field(description="trained model folder (`pricing train`)")
    graph_db: str | None = Field(
        default=None, description="graph store (SQLite path or postgresql:// URL); None: the "
                                  "model's own graph snapshot")
    sales: str | None = Field(
        default=None, description="catalog with a sales table for demand-aware mode; None: market mode")
    policy: GuardrailPolicy = Field(default_factory=GuardrailPolicy)
    k_comparables: int = Field(default=5, ge=0, le=50)
    top_drivers: int = Field(default=3, ge=0, le=6)
    max_relative_width: float | None = Field(
        default=None, gt=0, description="abstain above this relative interval width; None: "
                                        "the model's calibrated threshold")
    threads: int = Field(default=1, ge=1, description="torch threads per worker")
    keep_suggestion: bool = Field(
        default=False, description="also write each full Suggestion as JSON (for reprice)")

    @field_validator("artifact", "graph_db", "sales", mode="before")
    @classmethod
    def _absolute(cls, v: str | Path | None) -> str | None:
        # Workers may start in another directory (or on another node); URLs stay as they are.
        if v is None or (isinstance(v, str) and "://" in v):
            return v
        return str(Path(v).expanduser().absolute())

    def options(self) -> SuggestOptions:
        return SuggestOptions(explain=False, k_comparables=self.k_comparables, policy=self.policy,
                              max_relative_width=self.max_relative_width)

    def model_version(self) -> str:
        meta = Path(self.artifact) / "metadata.json"
        if not meta.exists():
            raise FileNotFoundError(f"{meta}: not a trained model folder "
                                    "(run `pricing train DATA --out DIR` first)")
        return str(json.loads(meta.read_text(encoding="utf-8")).get("model_version", "unversioned"))

    def fingerprint(self) -> dict[str, Any]:
        """Everything that changes the output; a resume must find it unchanged."""
        return {**self.model_dump(mode="json", exclude={"threads"}),
                "model_version": self.model_version(),
                "graph_version": self.graph_version(),
                "sales_files": path_fingerprint(self.sales)}

    def graph_version(self) -> dict[str, int] | None:
        """The graph store's version (+1 per committed edit; see graph.store), None without a
        store: a curator's edit between a run and its resume makes the resume refuse."""
        from graph.db import store_exists
        from graph.store import GraphStore

        if self.graph_db is None or not store_exists(self.graph_db):
            return None
        with GraphStore(self.graph_db) as store:
            return asdict(store.version())

    def load_service(self):  # -> PricingService (imported here: workers pay for it once)
        """The pricing service a worker scores with: model, graph, demand model; no LLM and no
        suggestion store (the Parquet output is the record of a batch run)."""
        from assistant.service import PricingService
        from models.encoder import set_threads

        set_threads(self.threads)
        service = PricingService.from_paths(self.artifact, self.graph_db, ":memory:", llm=None,
                                            sales=self.sales)
        # The graph's millions of long-lived objects make full GC passes stall scoring
        # (as in `pricing serve`): keep them out of the collector's way.
        gc.collect()
        gc.freeze()
        return service
