"""Settings of a running assistant, read once at the edge (CLI, server) and passed down.

Use::

    from assistant.settings import Settings
    settings = Settings()                                   # PRICING_* environment variables
    settings = Settings(artifact="runs/model", sales=None)  # or explicit values (flags)
    service = PricingService.from_settings(settings)

Nothing below the edge reads the environment or the working directory: the service gets
paths and objects, never "env" sentinels (DESIGN.md, "Settings at the edge").
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from assistant.pricebook import PriceBook

LLMBackend = Literal["local", "openai", "fake", "none"]
LOGIN_MAX_FAILURES = 5
LOGIN_WINDOW_S = 900


@dataclass(frozen=True)
class LoginLimit:
    """How many failed ``/ui`` sign-ins one client address, or one user name, may make within
    ``window_s`` seconds before further sign-ins are refused (0 failures: no limit)."""

    max_failures: int = LOGIN_MAX_FAILURES
    window_s: int = LOGIN_WINDOW_S

    def __post_init__(self) -> None:
        if self.max_failures < 0 or self.window_s < 1:
            raise ValueError(f"login limit: max_failures >= 0 and window_s >= 1 (got "
                             f"{self.max_failures}, {self.window_s})")


class Settings(BaseSettings):
    """Where the model and stores are, which LLM explains, how many threads."""

    model_config = SettingsConfigDict(env_prefix="PRICING_", extra="ignore")

    artifact: Path = Field(Path("runs/model"), description="trained model folder (pricing train)")
    # str | Path: a postgresql:// URL must stay a string (a Path would fold its "//").
    graph_db: str | Path | None = Field(Path("runs/graph.sqlite"), description="graph store: "
                                        "a SQLite path or a postgresql:// URL; when missing, "
                                        "the artifact's snapshot")
    suggestions_db: str | Path = Field(Path("runs/suggestions.sqlite"), description="suggestion "
                                       "store: a SQLite path or a postgresql:// URL")
    pricebook_db: Path | None = Field(Path("runs/pricebook.sqlite"), description="applied prices, "
                                      "their history and the approval queue; none = no apply")
    auto_apply_max_change: float = Field(0.05, ge=0, le=10, description="largest move applied "
                                         "without approval, as a fraction (0.05 = ±5%)")
    auto_apply_min_confidence: float = Field(0.6, ge=0, le=1, description="lowest confidence "
                                             "applied without approval")
    sales: Path | None = Field(None, description="catalog folder with sales history for "
                               "demand-aware pricing (e.g. data/demo); none = market mode only")
    llm_backend: LLMBackend = Field("local", description="explanations: local SmolLM2, an "
                                    "OpenAI-compatible endpoint, a scripted fake, or none "
                                    "(deterministic verified text)")
    threads: int | None = Field(None, ge=1, le=256, description="torch / llama.cpp threads")
    cache_items: int = Field(50_000, ge=0, le=10_000_000, description="catalog suggestions kept "
                             "in memory for look-ups by id (0 = compute every request)")
    login_max_failures: int = Field(LOGIN_MAX_FAILURES, ge=0, le=10_000, description="failed /ui "
                                    "sign-ins per client address or user name within the window "
                                    "before sign-in is refused (0 = no limit)")
    login_window_s: int = Field(LOGIN_WINDOW_S, ge=1, le=7 * 86_400, description="that window, "
                                "in seconds")

    @field_validator("sales", "graph_db", "pricebook_db", mode="before")
    @classmethod
    def _none_word(cls, v: Any) -> Any:
        # PRICING_SALES=none / an empty value turns the option off
        return None if isinstance(v, str) and v.strip().lower() in ("", "none", "off") else v

    @field_validator("llm_backend", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @property
    def login_limit(self) -> LoginLimit:
        """The /ui sign-in limit (PRICING_LOGIN_MAX_FAILURES, PRICING_LOGIN_WINDOW_S)."""
        return LoginLimit(self.login_max_failures, self.login_window_s)

    def make_pricebook(self) -> PriceBook | None:
        """The price list with its approval policy (None when ``pricebook_db`` is off)."""
        if self.pricebook_db is None:
            return None
        from assistant.pricebook import ApprovalPolicy, PriceBook

        return PriceBook(self.pricebook_db, ApprovalPolicy(
            max_auto_change=self.auto_apply_max_change,
            min_confidence=self.auto_apply_min_confidence))

    def make_llm(self) -> Any | None:
        """The chat model for explanations (None: the deterministic verified text only)."""
        if self.llm_backend == "none":
            return None
        from assistant.llm import LLMConfig, make_llm

        return make_llm(LLMConfig.from_env())
