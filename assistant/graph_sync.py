"""Serve the store's current graph in every process: a cheap version check before each
request, and catching up with edits other processes (workers, machines) committed.

Use::

    from assistant.graph_sync import ensure_current
    ensure_current(service)     # the API calls it before every request (a FastAPI dependency)
    graph_sync(service).stats   # {"checks", "catch_ups", "last_catch_up_s"}

The check reads one row (``meta.graph_version``) on this process's own store connection
and compares it with the version the service's graph was loaded at
(:func:`graph.store.loaded_version`). When the store is ahead, the committed operations are
replayed from the audit trail on a copy of the graph (:func:`graph.sync.catch_up`) and the
service switches to it (:meth:`PricingService.refresh_graph`) before the request goes on:
requests wait for it, so an edit made through one worker is visible through every worker on
its next request. The curation service refreshes through here too after its own commits, so
all graph swaps of a process are serialised by one lock.

After a fork (``pricing serve --workers N``) each worker opens its own connection.
"""
from __future__ import annotations

import os
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Protocol

import networkx as nx

from graph.store import GraphStore, loaded_version
from graph.sync import catch_up, graph_version


class SyncHost(Protocol):
    """What the sync needs of a :class:`assistant.service.PricingService`."""

    graph: nx.MultiDiGraph
    graph_db: str | Path | None

    def refresh_graph(self, graph: nx.MultiDiGraph) -> None: ...


class GraphSync:
    """The version check and catch-up of one service in one process."""

    def __init__(self, host: SyncHost) -> None:
        self.host = host
        self._lock = threading.Lock()
        self._store: GraphStore | None = None
        self._pid = 0
        self.stats: dict[str, Any] = {"checks": 0, "catch_ups": 0, "last_catch_up_s": None}

    def _open(self) -> GraphStore:
        if self._store is None or self._pid != os.getpid():
            # A store inherited from the parent process is not ours to use (or to close).
            self._store = GraphStore(self.host.graph_db, any_thread=True)  # type: ignore[arg-type]
            self._pid = os.getpid()
        return self._store

    def ensure_current(self) -> bool:
        """Catch up if the store moved on; True when the service's graph was replaced."""
        if self.host.graph_db is None:
            return False
        with self._lock:
            store = self._open()
            self.stats["checks"] += 1
            have = loaded_version(self.host.graph)
            if have is not None and graph_version(store.conn) == have.version:
                return False
            t0 = time.perf_counter()
            g = self.host.graph
            new = catch_up(g, store)
            if new is g:
                return False
            self.host.refresh_graph(new)
            self.stats["catch_ups"] += 1
            self.stats["last_catch_up_s"] = round(time.perf_counter() - t0, 3)
            return True

    def close(self) -> None:
        with self._lock:
            if self._store is not None and self._pid == os.getpid():
                self._store.close()
            self._store = None


_SYNCS: weakref.WeakKeyDictionary[Any, GraphSync] = weakref.WeakKeyDictionary()
_SYNCS_LOCK = threading.Lock()


def graph_sync(host: SyncHost) -> GraphSync:
    """The one GraphSync of ``host`` (created on first use)."""
    with _SYNCS_LOCK:
        sync = _SYNCS.get(host)
        if sync is None:
            sync = _SYNCS[host] = GraphSync(host)
        return sync


def ensure_current(host: SyncHost) -> bool:
    """:meth:`GraphSync.ensure_current` of ``host``'s sync."""
    return graph_sync(host).ensure_current()
