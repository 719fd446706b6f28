"""Settings and request dependencies of the REST API: API keys and roles, the service.

Use::

    settings = ApiSettings.from_env()            # PRICING_API_KEYS=key:role,...
    app = create_app(service, settings)          # assistant.http.app; stored on app.state
    @router.get("/x")
    def x(service: PricingService = Depends(get_service), role: Role = Depends(role_of)): ...

Authentication: send ``X-API-Key: <key>``. Keys come from ``PRICING_API_KEYS`` as ``key:role``
pairs separated by commas (roles: ``merchant`` may read and ask for suggestions, ``curator``
may also edit the graph). ``PRICING_AUTH_DISABLED=1`` turns authentication off explicitly;
with neither set, the server refuses to start rather than run open by accident.
"""
from __future__ import annotations

import os
from typing import Literal

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field

from assistant.service import PricingService

Role = Literal["merchant", "curator"]


class ApiSettings(BaseModel):
    api_keys: dict[str, Role] = Field(default_factory=dict)
    auth_disabled: bool = False

    @classmethod
    def from_env(cls) -> ApiSettings:
        keys: dict[str, Role] = {}
        for pair in filter(None, (p.strip() for p in os.environ.get("PRICING_API_KEYS", "").split(","))):
            key, _, role = pair.partition(":")
            if role not in ("merchant", "curator"):
                raise ValueError(f"PRICING_API_KEYS: role of key {key[:4]}… must be merchant or curator")
            keys[key] = role  # type: ignore[assignment]
        disabled = os.environ.get("PRICING_AUTH_DISABLED", "") in ("1", "true", "yes")
        if not keys and not disabled:
            raise ValueError("no API keys configured: set PRICING_API_KEYS=key:role,... "
                             "or PRICING_AUTH_DISABLED=1 to run without authentication")
        return cls(api_keys=keys, auth_disabled=disabled)


api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def get_service(request: Request) -> PricingService:
    """The app's PricingService (``create_app`` puts it on ``app.state``)."""
    return request.app.state.service


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


def role_of(key: str | None = Security(api_key_header),
            settings: ApiSettings = Depends(get_settings)) -> Role:
    """The caller's role, or 401."""
    if settings.auth_disabled:
        return "curator"
    if not key:
        raise HTTPException(401, "missing X-API-Key header")
    role = settings.api_keys.get(key)
    if role is None:
        raise HTTPException(401, "unknown API key")
    return role


def curator_actor(role: Role = Depends(role_of),
                  key: str | None = Security(api_key_header)) -> str:
    """The audit actor of a curator's request; 403 for a key that may only read."""
    if role != "curator":
        raise HTTPException(403, "this API key may read the graph but not edit it "
                                 "(a curator key is needed)")
    return f"curator:{key[:4]}" if key else "curator:anonymous"
