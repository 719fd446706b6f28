"""Storage backends of the stores: SQLite (embedded, the default) or PostgreSQL (psycopg 3),
chosen by where the store is.

Use::

    from graph.db import connect, is_postgres, snapshot
    conn = connect("runs/graph.sqlite")                       # a sqlite3.Connection
    conn = connect("postgresql://pricing@db-host/pricing")    # a PgConnection: the same calls
    conn.execute("SELECT version FROM nodes WHERE id=?", ("brand:boat",)).fetchone()
    with snapshot("postgresql://...") as conn:                # reads in one consistent snapshot
        ...

Locations: a file path (or ``sqlite:///path``) is SQLite; a ``postgresql://`` (or
``postgres://``) URL is PostgreSQL - libpq's URL, e.g. ``postgresql://user:pw@host:5432/db`` or
``postgresql://user@/db?host=/run/postgresql`` for a local socket.

The interface is the part of Python's DB-API the stores and curation already use on sqlite3:
``execute`` with ``?`` placeholders, ``executemany``, cursors (``fetchone``, ``fetchall``,
iteration, ``lastrowid``, ``rowcount``), ``in_transaction``, ``total_changes``, explicit
``BEGIN`` / ``COMMIT`` / ``ROLLBACK`` / ``SAVEPOINT`` statements and sqlite3's exception
classes. The SQLite backend is therefore sqlite3 itself, and :class:`PgConnection` speaks the
same dialect to PostgreSQL, so the curation and audit code runs unchanged on both. It
rewrites the few SQLite-isms that code uses (:func:`translate`) and keeps SQLite's
transaction semantics where the code relies on them:

- ``BEGIN IMMEDIATE`` (a writer) also takes a transaction-level advisory lock: writers of one
  store are serialised as on SQLite, so curation's rule checks see every earlier commit and
  audit ids follow commit order; ``PRAGMA busy_timeout`` becomes ``lock_timeout``;
- a plain ``BEGIN`` is a repeatable-read snapshot (SQLite's deferred transaction in WAL mode);
- a failed INSERT inside a transaction undoes only itself (a savepoint), as on SQLite, so code
  may catch the IntegrityError and go on;
- psycopg errors are raised as :class:`IntegrityError`, :class:`OperationalError` and
  :class:`DatabaseError`, subclasses of sqlite3's, so ``except sqlite3.IntegrityError`` works;
- ``sqlite_master`` (tables and indexes) and ``json_extract(text, '$.key')`` exist as a view
  and a function (:func:`prepare_postgres`), ``PRAGMA data_version`` reads the graph version.

Every connection belongs to one process: after a fork (``pricing serve --workers``) each
worker opens its own (:func:`pg_pool` and :func:`snapshot` check the process id).
"""
from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

# pg_advisory_xact_lock keys: one for writers of a store (curation, save), one for schema DDL.
WRITER_LOCK = 0x7072_6963_6772_6170  # "pricgrap"
DDL_LOCK = WRITER_LOCK + 1
_PG_SCHEMES = ("postgresql://", "postgres://")


class IntegrityError(sqlite3.IntegrityError):
    """A constraint refused a PostgreSQL write (a subclass of sqlite3's, see the docstring)."""


class OperationalError(sqlite3.OperationalError):
    """PostgreSQL could not run the statement: lock timeout, lost connection, ..."""


class DatabaseError(sqlite3.DatabaseError):
    """Any other PostgreSQL error."""


class Cursor(Protocol):
    lastrowid: int | None
    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What the stores need of a connection: sqlite3.Connection and PgConnection both are."""

    in_transaction: bool
    total_changes: int

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Cursor: ...

    def executemany(self, sql: str, rows: Any) -> Cursor: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- locations

def is_postgres(location: str | Path | None) -> bool:
    """Whether ``location`` names a PostgreSQL database (a ``postgresql://`` URL)."""
    return isinstance(location, str) and location.startswith(_PG_SCHEMES)


def normalize(location: str | Path) -> str | Path:
    """A PostgreSQL URL stays a string; anything else is a SQLite file path."""
    if is_postgres(location):
        return str(location)
    text = str(location)
    if text.startswith("sqlite:///"):  # sqlite:///relative/path, sqlite:////absolute/path
        return Path(text[len("sqlite:///"):])
    if "://" in text:
        raise ValueError(f"unknown store location {text!r}: give a SQLite file path or a "
                         f"postgresql:// URL")
    return Path(text)


def describe(location: str | Path) -> str:
    """The location for messages and logs, without a password."""
    if is_postgres(location):
        return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", str(location))
    return str(location)


def store_exists(location: str | Path, table: str = "nodes") -> bool:
    """Whether the store at ``location`` exists and has ``table`` (no file is created)."""
    loc = normalize(location)
    if isinstance(loc, Path):
        return loc.exists()
    conn = PgConnection(loc)
    try:
        return conn.execute("SELECT to_regclass(?) IS NOT NULL", (table,)).fetchone()[0]
    finally:
        conn.close()


def connect(location: str | Path, *, timeout: float = 30) -> Connection:
    """A connection in autocommit mode (transactions are explicit ``BEGIN`` statements)."""
    loc = normalize(location)
    if isinstance(loc, Path):
        return sqlite3.connect(loc, timeout=timeout, isolation_level=None)
    return PgConnection(loc, lock_timeout_ms=int(timeout * 1000))


@contextmanager
def snapshot(location: str | Path) -> Iterator[Connection]:
    """A connection of the caller's own reading one snapshot (``BEGIN``); rolled back and
    closed (SQLite) or handed back to the process's pool (PostgreSQL) afterwards."""
    loc = normalize(location)
    if isinstance(loc, Path):
        conn = sqlite3.connect(loc, timeout=10)
        try:
            conn.execute("BEGIN")
            yield conn
        finally:
            conn.close()
        return
    with pg_pool(loc).connection() as raw:
        conn = PgConnection(loc, raw=raw)
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if conn.in_transaction:
                raw.execute("ROLLBACK")


# --------------------------------------------------------------------------- PostgreSQL

_POOLS: dict[tuple[int, str], Any] = {}
_POOLS_LOCK = threading.Lock()


def pg_pool(url: str, max_size: int = 8) -> Any:
    """This process's psycopg_pool.ConnectionPool for ``url`` (autocommit connections;
    a forked worker gets a pool of its own)."""
    key = (os.getpid(), url)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            from psycopg_pool import ConnectionPool

            # Pools of the parent process are dead weight after a fork: forget them (their
            # sockets belong to the parent; closing them here would end its sessions).
            for k in [k for k in _POOLS if k[0] != key[0]]:
                del _POOLS[k]
            pool = ConnectionPool(url, min_size=1, max_size=max_size, open=True, timeout=30,
                                  kwargs={"autocommit": True, "application_name": app_name()},
                                  name=f"pricing-{os.getpid()}")
            _POOLS[key] = pool
    return pool


def app_name() -> str:
    """``application_name`` of this process's sessions (pg_stat_activity shows which worker
    holds what): ``pricing-<pid>``."""
    return f"pricing-{os.getpid()}"


def close_pools() -> None:
    """Close this process's pools (tests, shutdown)."""
    with _POOLS_LOCK:
        mine = [k for k in _POOLS if k[0] == os.getpid()]
        pools = [_POOLS.pop(k) for k in mine]
    for p in pools:
        p.close()


def _map_error(exc: Exception) -> sqlite3.Error:
    import psycopg

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, psycopg.IntegrityError):
        return IntegrityError(text)
    if isinstance(exc, psycopg.OperationalError):
        if isinstance(exc, psycopg.errors.LockNotAvailable):
            return OperationalError(f"database is locked ({text})")
        return OperationalError(text)
    return DatabaseError(text)


class _Plan:
    """What one SQLite-flavoured statement becomes on PostgreSQL."""

    __slots__ = ("kind", "sql", "arg", "insert", "returning")

    def __init__(self, kind: str, sql: str = "", arg: Any = None, insert: bool = False,
                 returning: bool = False) -> None:
        self.kind, self.sql, self.arg = kind, sql, arg
        self.insert, self.returning = insert, returning


class PgCursor:
    """A finished statement's rows (sqlite3.Cursor's reading methods)."""

    def __init__(self, cur: Any = None, lastrowid: int | None = None,
                 rows: list | None = None) -> None:
        self._cur = cur
        self._rows = rows
        self.lastrowid = lastrowid
        self.rowcount = -1 if cur is None else cur.rowcount

    def fetchone(self) -> Any:
        if self._rows is not None:
            return self._rows.pop(0) if self._rows else None
        if self._cur is None or self._cur.description is None:
            return None
        return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        if self._rows is not None:
            rows, self._rows = self._rows, []
            return rows
        if self._cur is None or self._cur.description is None:
            return []
        return self._cur.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class PgConnection:
    """A psycopg 3 connection that takes sqlite3's calls and SQLite-flavoured SQL.

    ``raw`` wraps an open psycopg connection (from :func:`pg_pool`) instead of opening one.
    """

    kind = "postgresql"

    def __init__(self, url: str, *, raw: Any = None, lock_timeout_ms: int = 30_000) -> None:
        import psycopg

        self.url = url
        self._own = raw is None
        try:
            self.raw = raw if raw is not None else psycopg.connect(
                url, autocommit=True, connect_timeout=10, application_name=app_name())
        except psycopg.Error as exc:
            raise _map_error(exc) from exc
        self.total_changes = 0
        self.pid = os.getpid()
        if self._own:
            self.raw.execute(f"SET lock_timeout = {int(lock_timeout_ms)}")

    # ----------------------------------------------------------------- sqlite3.Connection
    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status in (TransactionStatus.INTRANS,
                                                    TransactionStatus.INERROR,
                                                    TransactionStatus.ACTIVE)

    def close(self) -> None:
        if self._own and self.pid == os.getpid():
            self.raw.close()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> PgCursor:
        import psycopg

        plan = translate(sql)
        try:
            if plan.kind == "begin_write":
                self.raw.execute("BEGIN")
                self.raw.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
                return PgCursor()
            if plan.kind == "pragma":
                return self._pragma(plan.sql, plan.arg)
            params = tuple(params)
            if plan.insert and self.in_transaction:
                return self._insert_in_savepoint(plan, params)
            cur = self.raw.execute(plan.sql, params)
        except psycopg.Error as exc:
            raise _map_error(exc) from exc
        return self._done(cur, plan)

    def executemany(self, sql: str, rows: Any) -> PgCursor:
        import psycopg

        plan = translate(sql)
        try:
            with self.raw.cursor() as cur:
                cur.executemany(plan.sql, [tuple(r) for r in rows])
                n = cur.rowcount
        except psycopg.Error as exc:
            raise _map_error(exc) from exc
        if n > 0:
            self.total_changes += n
        out = PgCursor()
        out.rowcount = n
        return out

    def executescript(self, script: str) -> None:
        for stmt in split_statements(script):
            self.execute(stmt)

    def commit(self) -> None:
        if self.in_transaction:
            self.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.execute("ROLLBACK")

    # ----------------------------------------------------------------- helpers
    def _done(self, cur: Any, plan: _Plan) -> PgCursor:
        last = None
        if plan.returning:
            row = cur.fetchone()
            last = None if row is None else int(row[0])
            out = PgCursor(cur, lastrowid=last, rows=[])
        else:
            out = PgCursor(cur)
        if plan.kind == "write" and cur.rowcount > 0:
            self.total_changes += cur.rowcount
        return out

    def _insert_in_savepoint(self, plan: _Plan, params: tuple) -> PgCursor:
        import psycopg

        self.raw.execute("SAVEPOINT pricing_stmt")
        try:
            cur = self.raw.execute(plan.sql, params)
        except psycopg.Error:
            self.raw.execute("ROLLBACK TO SAVEPOINT pricing_stmt")
            self.raw.execute("RELEASE SAVEPOINT pricing_stmt")
            raise
        self.raw.execute("RELEASE SAVEPOINT pricing_stmt")
        return self._done(cur, plan)

    def _pragma(self, name: str, value: str | None) -> PgCursor:
        if name == "data_version":
            # SQLite's counter of other connections' commits; here the graph version, which
            # every committed curation operation and every full save bump (graph.store).
            row = self.raw.execute("SELECT value FROM meta WHERE key='graph_version'"
                                   ).fetchone() if self._has_meta() else None
            return PgCursor(rows=[(int(row[0]) if row else 0,)])
        if name == "busy_timeout" and value is not None:
            self.raw.execute(f"SET lock_timeout = {int(value)}")
            return PgCursor(rows=[(int(value),)])
        return PgCursor(rows=[])  # journal_mode, synchronous, foreign_keys: server settings

    def _has_meta(self) -> bool:
        return bool(self.raw.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()[0])


# --------------------------------------------------------------------------- SQL dialect

# Tables whose INSERT OR REPLACE becomes an upsert: conflict column, updated columns.
_UPSERT = {"meta": ("key", ("key", "value"))}
# Tables whose INSERT reports the new id (cursor.lastrowid): identity key "id".
_RETURNING_ID = {"audit"}
_BEGIN_WRITE = re.compile(r"^\s*BEGIN\s+(IMMEDIATE|EXCLUSIVE)(\s+TRANSACTION)?\s*;?\s*$", re.I)
_BEGIN_READ = re.compile(r"^\s*BEGIN(\s+DEFERRED)?(\s+TRANSACTION)?\s*;?\s*$", re.I)
_PRAGMA = re.compile(r"^\s*PRAGMA\s+(\w+)\s*(?:=\s*([\w.-]+))?\s*;?\s*$", re.I)
_INSERT = re.compile(r"^\s*INSERT\s+(?:OR\s+(REPLACE|IGNORE)\s+)?INTO\s+(\w+)", re.I)
_UNARY_PLUS = re.compile(r"(?<=[\s(,=])\+(?=[A-Za-z_][\w.]*\s*(=|<|>|IN\b))", re.I)
_ROWID_PK = re.compile(r"\bINTEGER\s+PRIMARY\s+KEY\b(?!\s+AUTOINCREMENT)", re.I)
_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.I)


@lru_cache(maxsize=512)
def translate(sql: str) -> _Plan:
    """The PostgreSQL form of one statement in the SQLite dialect the project writes:

    ``?`` -> ``%s`` (and a literal ``%`` -> ``%%``); ``BEGIN IMMEDIATE`` -> BEGIN + the
    writer lock; ``BEGIN`` -> a repeatable-read snapshot; ``PRAGMA`` -> see
    :meth:`PgConnection._pragma`; ``INSERT OR REPLACE`` (meta) -> an upsert; ``INSERT OR
    IGNORE`` -> ``ON CONFLICT DO NOTHING``; an audit INSERT gets ``RETURNING id``;
    ``INTEGER PRIMARY KEY`` -> an identity column; the unary ``+col`` SQLite uses to steer
    its planner away from an index -> ``col``.
    """
    if _BEGIN_WRITE.match(sql):
        return _Plan("begin_write")
    if _BEGIN_READ.match(sql):
        return _Plan("sql", "BEGIN ISOLATION LEVEL REPEATABLE READ")
    m = _PRAGMA.match(sql)
    if m:
        return _Plan("pragma", m.group(1).lower(), m.group(2))
    text = _qmarks(sql.strip().rstrip(";"))
    text = _UNARY_PLUS.sub("", text)
    text = _ROWID_PK.sub("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", text)
    m = _INSERT.match(text)
    returning = False
    if m:
        verb, table = (m.group(1) or "").upper(), m.group(2).lower()
        text = _INSERT.sub(f"INSERT INTO {m.group(2)}", text, count=1)
        if verb == "IGNORE":
            text += " ON CONFLICT DO NOTHING"
        elif verb == "REPLACE":
            if table not in _UPSERT:
                raise NotImplementedError(f"INSERT OR REPLACE INTO {table}: no conflict key "
                                          f"known for PostgreSQL (graph.db._UPSERT)")
            key, cols = _UPSERT[table]
            sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c != key)
            text += f" ON CONFLICT ({key}) DO UPDATE SET {sets}"
        if table in _RETURNING_ID and " RETURNING " not in text.upper():
            text += " RETURNING id"
            returning = True
    kind = "write" if _WRITE.match(text) else "sql"
    return _Plan(kind, text, insert=bool(m), returning=returning)


def _qmarks(sql: str) -> str:
    """``?`` placeholders -> ``%s`` outside quotes and comments; every ``%`` doubled."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in ("'", '"'):
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:  # doubled quote inside
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i:j + 1].replace("%", "%%"))
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(sql[i:j].replace("%", "%%"))
            i = j
        elif ch == "?":
            out.append("%s")
            i += 1
        elif ch == "%":
            out.append("%%")
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def split_statements(script: str) -> list[str]:
    """``script`` split at the semicolons outside quotes, comments and ``$$`` bodies."""
    stmts, buf = [], []
    i, n = 0, len(script)
    while i < n:
        ch = script[i]
        if ch in ("'", '"'):
            j = script.find(ch, i + 1)
            j = n - 1 if j < 0 else j
            buf.append(script[i:j + 1])
            i = j + 1
        elif script.startswith("$$", i):
            j = script.find("$$", i + 2)
            j = n - 2 if j < 0 else j
            buf.append(script[i:j + 2])
            i = j + 2
        elif script.startswith("--", i):
            j = script.find("\n", i)
            i = n if j < 0 else j
        elif ch == ";":
            stmts.append("".join(buf))
            buf = []
            i += 1
        else:
            buf.append(ch)
            i += 1
    stmts.append("".join(buf))
    return [s.strip() for s in stmts if s.strip()]


# The two SQLite built-ins the project's SQL reads, for PostgreSQL. json_extract handles the
# '$.key.sub' paths used here and returns text (the project only reads strings with it);
# a document PostgreSQL cannot parse (NaN in a product's attributes) gives NULL.
_PG_COMPAT = """
CREATE OR REPLACE VIEW sqlite_master AS
    SELECT CASE c.relkind WHEN 'i' THEN 'index' WHEN 'v' THEN 'view' ELSE 'table' END AS type,
           c.relname::text AS name, c.relname::text AS tbl_name
    FROM pg_class c
    WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'i', 'v');
CREATE OR REPLACE FUNCTION json_extract(doc TEXT, path TEXT) RETURNS TEXT
    LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (doc::jsonb) #>> string_to_array(substr(path, 3), '.');
EXCEPTION WHEN invalid_text_representation THEN
    RETURN NULL;
END $$;
"""


def prepare_postgres(conn: PgConnection, ddl: str = "") -> None:
    """Create the compatibility view and function, then ``ddl``, in one transaction under
    the DDL lock (two workers opening a new store at once would race on CREATE ... IF NOT
    EXISTS otherwise)."""
    import psycopg

    raw = conn.raw
    try:
        raw.execute("BEGIN")
        try:
            raw.execute("SELECT pg_advisory_xact_lock(%s)", (DDL_LOCK,))
            for stmt in split_statements(_PG_COMPAT + ddl):
                raw.execute(stmt)
            raw.execute("COMMIT")
        except BaseException:
            raw.execute("ROLLBACK")
            raise
    except psycopg.Error as exc:
        raise _map_error(exc) from exc
