"""Shared test settings: one thread for torch and the local LLM, offline model hubs; the
session's tiny model and service; :func:`live_server` for tests over real HTTP."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("PRICING_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"


@contextmanager
def live_server(app: Any, name: str = "uvicorn-test") -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yield its base URL.

    Fails the test when the server has not started within 30 s; stops it on exit.
    """
    from assistant.server import serve_in_thread

    try:
        cm = serve_in_thread(app, name=name, start_timeout=30)
        url = cm.__enter__()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield url
    finally:
        cm.__exit__(None, None, None)


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    yield


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return DEMO


def small_catalog(per_source: int = 350, seed: int = 0):
    """A slice of the demo catalog: every source represented, reviews and offers kept."""
    from graph.adapters import load_path
    from graph.contracts import Catalog

    cat = load_path(DEMO)
    p = cat.products
    parts = [g.sample(min(len(g), per_source), random_state=seed) for _, g in p.groupby("source")]
    import pandas as pd

    keep = pd.concat(parts)
    ids = set(keep["product_id"])
    return Catalog(products=keep.reset_index(drop=True),
                   reviews=cat.reviews[cat.reviews["product_id"].isin(ids)].reset_index(drop=True),
                   offers=cat.offers[cat.offers["product_id"].isin(ids)].reset_index(drop=True),
                   sales=cat.sales[cat.sales["product_id"].isin(ids)].reset_index(drop=True))


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory) -> Path:
    """A real model (fine-tuned encoder, head, stacker, conformal) on ~1,500 demo products."""
    from models.train import TrainConfig, train

    out = tmp_path_factory.mktemp("model") / "model"
    # stack_min_rows below the default so the service, API and chat tests run through the
    # stacker (models.price_stack) as the main job's model does.
    cfg = TrainConfig(ft_max_texts=600, ft_epochs=1.0, word_features=5000, char_features=5000,
                      head_max_epochs=4, hidden=(64, 32), threads=1, cache_dir=None,
                      progress=False, stack_min_rows=100)
    return train(small_catalog(), cfg, out, log=None)


@pytest.fixture(scope="session")
def tiny_service(tiny_artifact, tmp_path_factory):
    """PricingService over the tiny model, market mode (no sales history: tests that need
    demand what-ifs add :func:`demo_demand`); LLM None = the deterministic verified explanation."""
    from assistant.service import PricingService

    db = tmp_path_factory.mktemp("svc") / "suggestions.sqlite"
    return PricingService.from_paths(tiny_artifact, None, db, llm=None, sales=None)


@pytest.fixture(scope="session")
def catalog_product(tiny_service) -> dict[str, Any]:
    """A priced catalog product whose title is unique and at least five words long."""
    t = tiny_service.products
    t = t[t["price"].notna() & (t["title"].str.split().str.len() >= 5)]
    t = t[~t["title"].duplicated(keep=False)].sort_index()
    row = t.iloc[len(t) // 2]
    return {"id": row["product_id"], "title": row["title"], "currency": row["currency"]}


@pytest.fixture(scope="session")
def demo_demand():
    """A DemandAdvisor fitted on data/demo's sales history (retail_price, ~0.5 s)."""
    from assistant.demand_advisor import DemandAdvisor

    return DemandAdvisor.from_path(DEMO / "retail_price")


def service_on_store_copy(service: Any, directory: Path, demand: Any = None,
                          location: str | None = None) -> Any:
    """A PricingService over ``service``'s model and a private SQLite copy of its graph (in
    ``directory``), for tests that edit the graph without touching the shared one; ``demand``
    (e.g. the :func:`demo_demand` fixture) enables the demand what-ifs. ``location``: a
    PostgreSQL database (a URL) holding both the graph copy and the suggestion store instead."""
    from assistant.explain import Explainer
    from assistant.service import PricingService
    from assistant.suggestion_store import SuggestionStore
    from graph.store import GraphStore

    db = location or directory / "graph.sqlite"
    with GraphStore(db) as store:
        store.save(service.graph)
        g = store.load()
    suggestions = SuggestionStore(location or directory / "suggestions.sqlite")
    return PricingService(g, service.predictor, suggestions, Explainer(None), graph_db=db,
                          demand=demand)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request) -> str:
    """Which backend a module's stores use: tests that depend on it run once on each."""
    return request.param


@pytest.fixture(scope="module")
def backend_location(backend, request) -> str | None:
    """None (SQLite files in a temporary folder) or a new PostgreSQL database for the module,
    on the session's throwaway server."""
    if backend == "sqlite":
        return None
    return request.getfixturevalue("pg_server").new_database("mod")


# --------------------------------------------------------------------------- PostgreSQL

@pytest.fixture(scope="session")
def pg_server():
    """A throwaway PostgreSQL server for the session (tests/pgserver.py); a missing server
    fails the tests that need it rather than skipping them (CI counts a skip as a failure)."""
    from tests.pgserver import PgServer, PgUnavailable

    try:
        server = PgServer().start()
    except PgUnavailable as exc:
        pytest.fail(str(exc))
    yield server
    from graph.db import close_pools

    close_pools()
    server.stop()


@pytest.fixture()
def pg_url(pg_server) -> str:
    """The URL of a new, empty PostgreSQL database."""
    return pg_server.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request, tmp_path):
    """A graph store location on each backend: a SQLite path, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "graph.sqlite"
    return request.getfixturevalue("pg_url")
