"""Settings: read once from the environment at the edge, explicit values win, bad values refused."""
from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from assistant.settings import LoginLimit, Settings


def test_environment_and_explicit_values(monkeypatch):
    monkeypatch.setenv("PRICING_ARTIFACT", "/srv/model")
    monkeypatch.setenv("PRICING_SALES", "none")
    monkeypatch.setenv("PRICING_LLM_BACKEND", " None ")
    s = Settings()
    assert s.artifact == Path("/srv/model") and s.sales is None and s.llm_backend == "none"
    assert s.make_llm() is None  # "none": deterministic explanations, no model built
    s = Settings(artifact="elsewhere", sales="data/demo")
    assert s.artifact == Path("elsewhere") and s.sales == Path("data/demo")


def test_defaults_do_not_depend_on_the_working_directory(monkeypatch, tmp_path):
    for var in ("PRICING_SALES", "PRICING_ARTIFACT", "PRICING_LLM_BACKEND"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "demo").mkdir(parents=True)  # no longer picked up silently
    assert Settings().sales is None


def test_login_limit_from_the_environment(monkeypatch):
    for var in ("PRICING_LOGIN_MAX_FAILURES", "PRICING_LOGIN_WINDOW_S"):
        monkeypatch.delenv(var, raising=False)
    assert Settings().login_limit == LoginLimit(5, 900)
    monkeypatch.setenv("PRICING_LOGIN_MAX_FAILURES", "3")
    monkeypatch.setenv("PRICING_LOGIN_WINDOW_S", "60")
    assert Settings().login_limit == LoginLimit(max_failures=3, window_s=60)


@pytest.mark.parametrize("var,value", [("PRICING_LLM_BACKEND", "gpt5"), ("PRICING_THREADS", "0"),
                                       ("PRICING_LOGIN_MAX_FAILURES", "-1"),
                                       ("PRICING_LOGIN_WINDOW_S", "0")])
def test_bad_values_are_refused(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError):
        Settings()
