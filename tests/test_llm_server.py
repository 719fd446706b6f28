"""The `openai` backend and the chat's LangChain tool routing against a real OpenAI-compatible
server: llama-cpp-python's `llama_cpp.server` serving the packaged SmolLM2 GGUF on loopback.
Run: pytest tests/test_llm_server.py"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from assistant.explain import Explainer
from assistant.facts import build_fact_sheet
from assistant.llm import LLMConfig, make_llm, smollm2_gguf_path
from assistant.verify import verify


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> tuple[str, Path]:
    """(base URL, log file) of a llama_cpp.server on a free loopback port; stopped afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf_path()), "--model_alias", "smollm2",
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", "1",
           "--n_threads_batch", "1", "--chat_format", "chatml-function-calling", "--verbose", "False"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail("llama_cpp.server exited: " + log.read_text(errors="replace")[-2000:])
            try:
                if httpx.get(base + "/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not start within 90 s")
            time.sleep(0.5)
        yield base, log
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _posts(log: Path) -> int:
    return log.read_text(errors="replace").count("POST /v1/chat/completions")


def test_server_lists_the_local_model(server):
    base, _ = server
    models = httpx.get(base + "/models", timeout=10).json()
    assert [m["id"] for m in models["data"]] == ["smollm2"]


def test_openai_backend_explanation_over_http_is_verified_or_replaced(server):
    base, log = server
    llm = make_llm(LLMConfig(backend="openai", base_url=base, model="smollm2", max_tokens=80, timeout_s=120))
    sheet = build_fact_sheet(recommended_price=899, currency="INR", interval=(820, 960), current_price=999,
                             category_median=1024.5, category_name="Kettles", comparables_count=12)
    before = _posts(log)
    exp = Explainer(llm, max_attempts=1)
    assert not exp.constrained and not exp.brief  # a remote model writes freely, with values and notes
    e = exp.explain(sheet, {"title": "Electric kettle 1.5 L"})
    assert _posts(log) == before + 1  # one real HTTP call
    assert e.raw_outputs[0].strip() and e.status in ("verified", "fallback")
    assert verify(e.text, sheet).ok and "₹899.00" in e.text


def test_tool_routing_over_http(server):
    from langchain_core.messages import HumanMessage

    from assistant.chat.routing import ToolRouter
    from assistant.chat.session import ChatSession, Reply

    base, log = server
    llm = make_llm(LLMConfig(backend="openai", base_url=base, model="smollm2", max_tokens=120, timeout_s=120))
    seen = []

    def handle(intent, session):
        seen.append(intent)
        return Reply(f"handled {intent.name}", intent.name)

    router = ToolRouter(llm, handle)
    session = ChatSession()
    tools = router.tools(session, "what can you do?")
    # a forced call: the server's grammar makes the small model emit a well-formed tool call,
    # which LangChain parses and the router's tool runs
    out = llm.bind_tools(tools, tool_choice={"type": "function", "function": {"name": "help"}}).invoke(
        [HumanMessage("what can you do?")])
    assert out.tool_calls and out.tool_calls[0]["name"] == "help"
    assert {t.name: t for t in tools}["help"].invoke(out.tool_calls[0]["args"] or {}) == "handled help"
    # the router's own path (tool_choice auto): a call it accepts, or None for the parser
    before = _posts(log)
    reply = router.route("what can you do?", session)
    assert _posts(log) == before + 1
    assert reply is None or (reply.routed_by == "llm" and reply.text.startswith("handled"))
