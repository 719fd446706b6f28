"""The package's public API: what a caller imports from ``assistant`` resolves to the real thing."""
from __future__ import annotations

import subprocess
import sys

import pytest

import assistant


def test_public_names_resolve():
    from assistant import GuardrailPolicy, PricingService, Settings, Suggestion, SuggestOptions
    from assistant.service import PricingService as Real

    assert PricingService is Real
    assert SuggestOptions(policy=GuardrailPolicy(min_margin=0.2)).policy.min_margin == 0.2
    assert "recommended_price" in Suggestion.model_fields and Settings().artifact.name
    assert set(assistant.__all__) <= set(dir(assistant))
    with pytest.raises(AttributeError):
        assistant.NoSuchThing  # noqa: B018


def test_importing_the_package_does_not_load_the_model_stack():
    """`import assistant` (and the CLI's table of contents) stay light: torch loads on use."""
    code = "import sys, assistant, assistant.cli.main; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
