"""Model registry: versioned artifact folders with metrics, data hash and training config, one
champion at a time, promotion and rollback with a history.

Use::

    pricing models list --registry runs/registry
    pricing models promote 20261130-1a2b3c4d-5e6f70 --registry runs/registry
    pricing models rollback --registry runs/registry

    from models.registry import ModelRegistry
    reg = ModelRegistry("runs/registry")
    v = reg.register("runs/model")                 # copies the artifact in, reads metadata.json
    reg.promote(v.version, reason="first model")
    reg.champion()                                 # the ModelVersion served now
    reg.path(reg.champion().version)               # its artifact folder (Predictor.load)
    reg.rollback(reason="coverage alert")          # back to the previous champion

Layout: ``ROOT/registry.sqlite`` (versions and events) and ``ROOT/versions/<version>/`` (the
artifact folders, written by :meth:`models.predictor.Predictor.save`). SQLite (WAL) so a CLI
promoting and a server polling the champion can share it; an artifact is copied in full before
its row is committed, so a reader never sees a version without its files.

The champion is the version named by the latest ``promote`` or ``rollback`` event; rollback
goes back to the champion before the current one (repeatable: each rollback steps further
back through the promotion history).
"""
from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    version TEXT PRIMARY KEY,
    created_at TEXT,
    registered_at TEXT NOT NULL,
    data_hash TEXT,
    metrics TEXT NOT NULL,
    config TEXT NOT NULL,
    gate TEXT,
    parent TEXT,
    note TEXT
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    version TEXT NOT NULL,
    previous TEXT,
    reason TEXT
);
"""
VERSIONS_DIR = "versions"
DB = "registry.sqlite"


class RegistryError(ValueError):
    """A registry operation that cannot be done (unknown version, nothing to roll back to)."""


@dataclass
class ModelVersion:
    """One registered model: where it is, what it was trained on, how it scored."""

    version: str
    path: Path
    created_at: str | None
    registered_at: str
    data_hash: str | None
    metrics: dict[str, Any]            # metadata.json's metrics (val, test, ...)
    config: dict[str, Any]             # the TrainConfig it was trained with
    gate: dict[str, Any] | None = None  # the retraining gate's verdict, when it went through one
    parent: str | None = None          # the champion it was retrained from
    note: str | None = None
    status: str = "registered"         # champion | previous (was champion) | registered
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "path": str(self.path), "created_at": self.created_at,
                "registered_at": self.registered_at, "data_hash": self.data_hash,
                "metrics": self.metrics, "config": self.config, "gate": self.gate,
                "parent": self.parent, "note": self.note, "status": self.status}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ModelRegistry:
    """Versions under ``root`` (created on first use)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / VERSIONS_DIR).mkdir(exist_ok=True)
        with self._db() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        # A short-lived connection per operation: the registry is touched rarely (a CLI
        # command, a server's poll every few seconds) and from several processes.
        con = sqlite3.connect(self.root / DB, timeout=30)
        try:
            with con:
                yield con
        finally:
            con.close()

    # ------------------------------------------------------------ writing
    def register(self, artifact: str | Path, *, gate: dict | None = None,
                 parent: str | None = None, note: str | None = None,
                 move: bool = False) -> ModelVersion:
        """Copy (or ``move``) a trained artifact folder in; its version comes from metadata.json.

        Raises RegistryError for a folder without metadata.json or a version already
        registered."""
        src = Path(artifact)
        meta_file = src / "metadata.json"
        if not meta_file.exists():
            raise RegistryError(f"{src}: not a trained model folder (no metadata.json)")
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        version = str(meta.get("model_version") or "")
        if not version or "/" in version or version.startswith("."):
            raise RegistryError(f"{meta_file}: missing or unusable model_version {version!r}")
        if self._row(version) is not None:
            raise RegistryError(f"version {version} is already registered")
        dest = self.root / VERSIONS_DIR / version
        tmp = dest.with_name(f".{version}.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        if move:
            shutil.move(str(src), tmp)
        else:
            shutil.copytree(src, tmp)
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)  # whole folder in place before the row exists
        with self._db() as con:
            con.execute("INSERT INTO versions(version, created_at, registered_at, data_hash, "
                        "metrics, config, gate, parent, note) VALUES (?,?,?,?,?,?,?,?,?)",
                        (version, meta.get("created_at"), _now(),
                         (meta.get("data") or {}).get("hash"),
                         json.dumps(meta.get("metrics") or {}), json.dumps(meta.get("config") or {}),
                         json.dumps(gate) if gate is not None else None, parent, note))
            con.execute("INSERT INTO events(at, action, version, previous, reason) "
                        "VALUES (?,?,?,?,?)", (_now(), "register", version, None, note))
        return self.get(version)

    def promote(self, version: str, reason: str | None = None) -> ModelVersion:
        """Make ``version`` the champion (the version a server switches to)."""
        self._need(version)
        current = self.champion_version()
        if current == version:
            raise RegistryError(f"{version} is already the champion")
        with self._db() as con:
            con.execute("INSERT INTO events(at, action, version, previous, reason) "
                        "VALUES (?,?,?,?,?)", (_now(), "promote", version, current, reason))
        return self.get(version)

    def rollback(self, reason: str | None = None) -> ModelVersion:
        """Go back to the champion before the current one; RegistryError when there is none."""
        chain = self._champion_chain()
        if len(chain) < 2:
            raise RegistryError("nothing to roll back to: there has been no earlier champion")
        current, previous = chain[-1], chain[-2]
        with self._db() as con:
            con.execute("INSERT INTO events(at, action, version, previous, reason) "
                        "VALUES (?,?,?,?,?)", (_now(), "rollback", previous, current, reason))
        return self.get(previous)

    # ------------------------------------------------------------ reading
    def _row(self, version: str) -> tuple | None:
        with self._db() as con:
            return con.execute("SELECT version, created_at, registered_at, data_hash, metrics, "
                               "config, gate, parent, note FROM versions WHERE version=?",
                               (version,)).fetchone()

    def _need(self, version: str) -> None:
        if self._row(version) is None:
            raise RegistryError(f"unknown model version {version!r} (see `pricing models list`)")

    def events(self) -> list[dict[str, Any]]:
        """Every register / promote / rollback, oldest first."""
        with self._db() as con:
            rows = con.execute("SELECT id, at, action, version, previous, reason FROM events "
                               "ORDER BY id").fetchall()
        return [dict(zip(("id", "at", "action", "version", "previous", "reason"), r)) for r in rows]

    def _champion_chain(self) -> list[str]:
        """The champions in order, a rollback popping the current one off (a stack)."""
        chain: list[str] = []
        for e in self.events():
            if e["action"] == "promote":
                chain.append(e["version"])
            elif e["action"] == "rollback" and chain:
                chain.pop()
        return chain

    def champion_version(self) -> str | None:
        """The champion's version string (cheap: what a server polls)."""
        with self._db() as con:
            row = con.execute("SELECT version FROM events WHERE action IN ('promote', 'rollback') "
                              "ORDER BY id DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def champion(self) -> ModelVersion | None:
        v = self.champion_version()
        return self.get(v) if v is not None else None

    def path(self, version: str) -> Path:
        """The artifact folder of ``version`` (what ``Predictor.load`` reads)."""
        self._need(version)
        return self.root / VERSIONS_DIR / version

    def get(self, version: str) -> ModelVersion:
        row = self._row(version)
        if row is None:
            raise RegistryError(f"unknown model version {version!r} (see `pricing models list`)")
        champion = self.champion_version()
        was = {e["version"] for e in self.events() if e["action"] in ("promote", "rollback")}
        status = "champion" if version == champion else ("previous" if version in was else
                                                         "registered")
        return ModelVersion(version=row[0], path=self.root / VERSIONS_DIR / row[0],
                            created_at=row[1], registered_at=row[2], data_hash=row[3],
                            metrics=json.loads(row[4]), config=json.loads(row[5]),
                            gate=json.loads(row[6]) if row[6] else None, parent=row[7],
                            note=row[8], status=status,
                            history=[e for e in self.events() if e["version"] == version])

    def list(self) -> list[ModelVersion]:
        """Every version, newest registration first."""
        with self._db() as con:
            names = [r[0] for r in con.execute(
                "SELECT version FROM versions ORDER BY registered_at DESC, rowid DESC")]
        return [self.get(v) for v in names]
