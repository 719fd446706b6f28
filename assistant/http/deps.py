"""Settings and request dependencies of the REST API: API keys, roles, limits, the service.

Use::

    settings = ApiSettings.from_env()            # PRICING_API_KEYS=name:key:role,...
    app = create_app(service, settings)          # assistant.http.app; stored on app.state
    @router.get("/x")
    def x(service: PricingService = Depends(get_service), role: Role = Depends(role_of)): ...

Authentication: send ``X-API-Key: <key>``. Keys come from ``PRICING_API_KEYS``, comma
separated, each ``name:key:role`` (``key:role`` still works: its name is then a salted hash
of the key). Roles: ``merchant`` may read, ask for suggestions and apply them (within the approval
policy), ``curator`` may also edit the graph, ``approver`` may also approve or reject the
changes waiting in the approval queue. The audit trail records a curator as ``curator:<name>``, never key characters.
Keys shorter than 16 characters are refused at start-up; keys are compared in constant time.
``PRICING_AUTH_DISABLED=1`` turns authentication off explicitly; with neither set, the server
refuses to start rather than run open by accident. Each key may make ``rate_limit`` requests
per minute (``PRICING_RATE_LIMIT``, 0 = off); beyond, 429 with ``Retry-After``.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
from typing import Literal

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field, model_validator

from assistant.graph_sync import ensure_current
from assistant.http.errors import ApiError
from assistant.service import PricingService

Role = Literal["merchant", "curator", "approver"]
ROLES: tuple[str, ...] = ("merchant", "curator", "approver")
MIN_KEY_LENGTH = 16
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
# Names for keys configured without one: stable across restarts, never the key's characters.
_NAME_SALT = b"pricing-assistant/api-key-name/v1\0"


class ApiSettings(BaseModel):
    """Who may call the API and the limits every request meets (documented in the README)."""

    api_keys: dict[str, Role] = Field(default_factory=dict, description="key -> role")
    key_names: dict[str, str] = Field(default_factory=dict, description=(
        "key -> configured name (the audit actor); keys without one get a salted hash"))
    auth_disabled: bool = False
    rate_limit: int = Field(default=1200, ge=0, description="requests per minute per key; 0: off")
    max_body_bytes: int = Field(default=10 * 2**20, ge=1024, description="request body limit")
    batch_max_items: int = Field(default=10_000, ge=1, description="items per batch")
    batch_max_explained: int = Field(default=20, ge=1, description=(
        "items per batch when explanations are asked for (each may call the LLM)"))
    deadline_s: float = Field(default=60.0, gt=0, description=(
        "a batch stops starting new items after this; the rest answer a timeout each"))

    @model_validator(mode="after")
    def _check_keys(self) -> ApiSettings:
        for key in self.api_keys:
            if len(key) < MIN_KEY_LENGTH:
                who = self.key_names.get(key) or f"#{list(self.api_keys).index(key) + 1}"
                raise ValueError(f"API key {who} has {len(key)} characters: keys need at least "
                                 f"{MIN_KEY_LENGTH} (e.g. `python -c 'import secrets; "
                                 f"print(secrets.token_urlsafe(24))'`)")
        for key, name in self.key_names.items():
            if key not in self.api_keys:
                raise ValueError(f"key_names: name {name!r} is for a key that is not configured")
            if not _NAME.match(name):
                raise ValueError(f"API key name {name!r}: use 1-64 letters, digits, '_', '.', "
                                 f"'@' or '-', starting with a letter or digit")
        names = list(self.key_names.values())
        if len(set(names)) != len(names):
            raise ValueError("API key names must be unique")
        return self

    @classmethod
    def from_env(cls) -> ApiSettings:
        """From ``PRICING_API_KEYS``, ``PRICING_AUTH_DISABLED`` and ``PRICING_RATE_LIMIT``."""
        keys: dict[str, Role] = {}
        names: dict[str, str] = {}
        items = [p.strip() for p in os.environ.get("PRICING_API_KEYS", "").split(",")]
        for i, item in enumerate(filter(None, items), 1):
            rest, _, role = item.rpartition(":")
            name, sep, key = rest.partition(":")
            if not sep:
                name, key = "", rest
            if role not in ROLES:
                raise ValueError(f"PRICING_API_KEYS: item {i} ({name or 'unnamed'}): the role must "
                                 f"be merchant, curator or approver (name:key:role)")
            if key in keys:
                raise ValueError(f"PRICING_API_KEYS: item {i} repeats a key")
            keys[key] = role  # type: ignore[assignment]
            if name:
                names[key] = name
        disabled = os.environ.get("PRICING_AUTH_DISABLED", "") in ("1", "true", "yes")
        if not keys and not disabled:
            raise ValueError("no API keys configured: set PRICING_API_KEYS=name:key:role,... "
                             "or PRICING_AUTH_DISABLED=1 to run without authentication")
        extra = {}
        if os.environ.get("PRICING_RATE_LIMIT", "").strip():
            try:
                extra["rate_limit"] = int(os.environ["PRICING_RATE_LIMIT"])
            except ValueError:
                raise ValueError("PRICING_RATE_LIMIT: give requests per minute per key (an "
                                 "integer; 0 turns the limit off)") from None
        return cls(api_keys=keys, key_names=names, auth_disabled=disabled, **extra)

    def name_of(self, key: str) -> str:
        """The key's configured name, else ``key-`` + a salted hash of it (12 hex digits)."""
        name = self.key_names.get(key)
        if name:
            return name
        return "key-" + hashlib.sha256(_NAME_SALT + key.encode("utf-8")).hexdigest()[:12]

    def authenticate(self, given: str) -> tuple[str, Role] | None:
        """(name, role) of the key ``given``, or None; compares with every configured key in
        constant time (no early exit, no dictionary look-up by the secret)."""
        probe = given.encode("utf-8", "surrogatepass")
        found: str | None = None
        for key in self.api_keys:
            if hmac.compare_digest(probe, key.encode("utf-8", "surrogatepass")):
                found = key
        if found is None:
            return None
        return self.name_of(found), self.api_keys[found]


api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


class Caller(BaseModel):
    """Who is calling: the key's name (``anonymous`` without auth) and role."""

    name: str
    role: Role


def get_service(request: Request) -> PricingService:
    """The app's PricingService (``create_app`` puts it on ``app.state``)."""
    return request.app.state.service


def current_graph(request: Request) -> None:
    """Before answering: catch up with graph edits other workers or machines committed
    (a one-row version check; :mod:`assistant.graph_sync`)."""
    ensure_current(request.app.state.service)


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


def caller(request: Request, key: str | None = Security(api_key_header),
           settings: ApiSettings = Depends(get_settings)) -> Caller:
    """The authenticated caller, or 401; 429 with ``Retry-After`` over the key's rate."""
    if settings.auth_disabled:
        who = Caller(name="anonymous", role="curator")
    elif not key:
        raise ApiError(401, "missing X-API-Key header", "X-API-Key")
    else:
        found = settings.authenticate(key)
        if found is None:
            raise ApiError(401, "unknown API key", "X-API-Key")
        who = Caller(name=found[0], role=found[1])
    wait = request.app.state.limiter.take(who.name)
    if wait > 0:
        raise ApiError(429, f"rate limit: {settings.rate_limit} requests per minute for "
                            f"this key; retry in {math.ceil(wait)} s",
                       headers={"Retry-After": str(math.ceil(wait))})
    return who


def role_of(who: Caller = Depends(caller)) -> Role:
    """The caller's role, or 401 / 429."""
    return who.role


def curator_actor(who: Caller = Depends(caller)) -> str:
    """The audit actor of a curator's request (``curator:<key name>``); 403 for a key that
    may only read."""
    if who.role != "curator":
        raise ApiError(403, "this API key may read the graph but not edit it (a curator key is "
                            "needed)", "X-API-Key")
    return f"curator:{who.name}"


def actor_of(who: Caller = Depends(caller)) -> str:
    """Who a request acts as, for history rows: ``<role>:<key name>``, never key characters."""
    return f"{who.role}:{who.name}"


def approver_actor(who: Caller = Depends(caller), settings: ApiSettings = Depends(get_settings)) -> str:
    """The actor of an approval decision; 403 unless the key has the ``approver`` role."""
    if settings.auth_disabled:
        return "approver:anonymous"
    if who.role != "approver":
        raise ApiError(403, "approving or rejecting a price change needs an approver key", "X-API-Key")
    return f"approver:{who.name}"
