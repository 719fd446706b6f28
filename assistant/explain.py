"""Explain a price suggestion in plain words, never showing an unverified number or word.

Use:
    from assistant.explain import Explainer
    from assistant.llm import make_llm
    exp = Explainer(make_llm()).explain(sheet, {"title": "Steel bottle", "reviews": ["Great"]})
    exp.text, exp.status, exp.fact_ids, exp.facts_cited   # status: verified | verified_after_retry | fallback

    for event in Explainer(make_llm()).stream(sheet, ctx):   # sentences as they come
    # (or .stream_suggestion(s, ctx) for a suggestion made with explain=False)
        if event.kind == "sentence":
            show(event.text)                 # a rendered sentence; the text so far has passed the verifier
        else:                                # "final": the whole explanation (an Explanation)
            if event.replace:
                replace_shown_with(event.text)   # a later try or the fallback replaced the draft

Flow: prompt (the facts the explanation may use + quoted product data) -> LLM draft with
{fact_id} placeholders -> verify (numbers, directions, words, complete sentences) -> on failure
one regeneration with the problems fed back -> verify -> else a deterministic explanation
written in code from the same facts ("fallback"). The returned text is always rendered
(placeholders filled in) and has always passed the verifier. With a model that can choose
among given sentences (the local llama.cpp backend's stream_choices), decoding is constrained
to the sentences assistant.grammar admits for this sheet (its GBNF grammar, as a token trie):
only its placeholders, no digits or currency signs, directions and rules as the facts say,
the product named by a noun from its title or category.
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

import prompts
from assistant.facts import FactSheet
from assistant.grammar import NP, Plan, plan, write
from assistant.verify import Verification, fact_groups, verify

Status = Literal["verified", "verified_after_retry", "fallback"]


@dataclass
class ProductContext:
    """Product text shown to the LLM as quoted, untrusted data (never as instructions)."""

    title: str = ""
    description: str = ""
    reviews: Sequence[str] = ()
    brand: str = ""
    category: str = ""

    @classmethod
    def coerce(cls, obj: ProductContext | Mapping[str, Any] | str | None) -> ProductContext:
        if obj is None:
            return cls()
        if isinstance(obj, ProductContext):
            return obj
        if isinstance(obj, str):
            return cls(title=obj)
        if isinstance(obj, Mapping):
            unknown = set(obj) - {"title", "description", "reviews", "brand", "category"}
            if unknown:
                raise ValueError(f"product_context: unknown field(s) {sorted(unknown)}")
            reviews = obj.get("reviews") or ()
            if isinstance(reviews, str):
                reviews = (reviews,)
            return cls(title=str(obj.get("title") or ""), description=str(obj.get("description") or ""),
                       reviews=tuple(str(r) for r in reviews), brand=str(obj.get("brand") or ""),
                       category=str(obj.get("category") or ""))
        raise TypeError(f"product_context: expected ProductContext, mapping or str, got {type(obj).__name__}")

    def to_block(self, max_reviews: int = 1, brief: bool = False) -> str:
        """Lines `field: "quoted text"`, each sanitized by prompts.quote_untrusted.

        brief: the title and category only (constrained decoding needs the product's name,
        not its reviews, and every prompt token costs time on a 2-core machine)."""
        q = prompts.quote_untrusted
        lines = []
        fields = (("title", self.title, 120), ("category", self.category, 80))
        if not brief:
            fields = (("title", self.title, 160), ("brand", self.brand, 60), ("category", self.category, 100),
                      ("description", self.description, 200))
        for name, value, limit in fields:
            if value and value.strip():
                lines.append(f'{name}: "{q(value, limit)}"')
        for review in list(self.reviews)[:0 if brief else max_reviews]:
            if review and str(review).strip():
                lines.append(f'review: "{q(review, 160)}"')
        return "\n".join(lines) if lines else "(none)"


@dataclass
class Explanation:
    text: str
    fact_ids: list[str]
    status: Status
    attempts: int  # LLM calls made
    seconds: float
    raw_outputs: list[str] = field(default_factory=list)
    problems: list[list[str]] = field(default_factory=list)  # per LLM attempt, for audit
    template: str = ""
    constrained: bool = False  # decoded under the sheet's plan (assistant.grammar)
    first_sentence_s: float | None = None  # seconds to the first verified sentence (streaming)

    @property
    def facts_cited(self) -> int:
        """Pieces of evidence the text states (the price, a comparison, a driver, ...)."""
        return len(fact_groups(self.fact_ids))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"facts_cited": self.facts_cited}


@dataclass
class StreamEvent:
    """One step of Explainer.stream.

    kind "sentence": ``text`` is the next rendered sentence of the draft; the draft up to and
    including it has passed the verifier. kind "final": ``text`` is the whole explanation and
    ``explanation`` its record; ``replace`` is True when it is not the sentences streamed so
    far (a regeneration or the fallback took over) and must replace them."""

    kind: Literal["sentence", "final"]
    text: str
    explanation: Explanation | None = None
    replace: bool = False


_SENT = re.compile(r"(?<=[.!?])\s+")
_ECHO = re.compile(r"\{\w+\}\s*:|\n\s*facts\s*:", re.I)
# Stop at the end of the paragraph: the answer is a few sentences.
STOP = ("\n\n",)
_PLACEHOLDER_ID = re.compile(r"\{(\w+)\}")


def clean_output(raw: str, max_sentences: int = 6) -> str:
    """Trim a draft: drop a cut-off last sentence and anything past `max_sentences`."""
    # A small model tends to echo the fact list after its answer: cut at the first echo.
    echo = _ECHO.search(raw)
    if echo and echo.start() > 0:
        raw = raw[: echo.start()]
    text = re.sub(r"\s+", " ", raw.replace("**", "")).strip()
    text = re.sub(r"^(answer|explanation|assistant)\s*:\s*", "", text, flags=re.I)
    parts = [p for p in _SENT.split(text) if p]
    if parts and not re.search(r"[.!?]['\")]*$", parts[-1]):
        parts = parts[:-1]  # cut off by max_tokens or by an echo: not a sentence
    return " ".join(parts[:max_sentences]).strip()


def prompt_fact_ids(sheet: FactSheet, p: Plan | None = None, with_title: bool = True) -> list[str]:
    """The facts shown to the model: those the explanation's sentences use, in their order,
    and the product title. A 135M model copies better from a short menu, and every prompt
    token costs time; the verifier still accepts every fact in the sheet."""
    p = p if p is not None else plan(sheet)
    ids = [m.group(1) for slot in p.slots for o in slot.options for m in _PLACEHOLDER_ID.finditer(o)]
    ids = [i for i in dict.fromkeys(ids) if i in sheet]
    if "product_title" in sheet and with_title:
        ids.append("product_title")
    return ids


def render_facts(sheet: FactSheet, ids: Sequence[str], notes: bool = True) -> str:
    """`{fact_id}: value (what it is)` lines; text values quoted and sanitized (untrusted).

    notes False (constrained decoding): no "(what it is)" and no numbers, only the ids, the
    directions and the text facts. The model chooses among sentences whose numbers code fills
    in; digits cost a token each, and a model that never sees a number cannot copy one."""
    lines = []
    for fid in ids:
        f = sheet[fid]
        value = f.format()
        if f.kind == "text":
            value = '"' + prompts.quote_untrusted(value, 80) + '"'
        elif not notes:
            value = ""
        note = ""
        if f.direction is not None and not notes:
            note = f.direction
        elif f.direction is not None and f.subject and f.reference:
            note = f"{f.subject} is {f.direction} {f.reference}".replace("_", " ")
        elif notes:
            note = f.label
        lines.append(f"{{{fid}}}" + (f": {value}" if value else "") + (f" ({note})" if note else ""))
    return "\n".join(lines)


def fallback_text(sheet: FactSheet) -> str:
    """A deterministic explanation with {fact_id} placeholders: the first phrasing of each of
    the sentences assistant.grammar plans for this sheet (the same words a model may choose)."""
    return write(plan(sheet), rng=None, include_optional=False)


def _supports_grammar(llm: Any) -> bool:
    return callable(getattr(llm, "stream_choices", None))


def plan_slots(p: Plan) -> list[tuple[list[str], bool]]:
    """The plan as the model's choices: each slot's phrasings with every noun phrase filled in."""
    return [([o.replace(NP, n) for o in slot.options for n in (p.noun_phrases if NP in o else [""])],
             slot.required) for slot in p.slots]


class Explainer:
    """Generate -> verify -> regenerate once -> deterministic fallback.

    llm: any LangChain chat model (None: always use the fallback, no LLM call).
    template_version: version of prompts/explain_v*.txt (None = newest).
    max_attempts: LLM calls before falling back (2 = one regeneration).
    stop: stop sequences passed to the model (None: none).
    constrained: decode under the sheet's plan (assistant.grammar: the model chooses among the
    sentences the plan admits, token by token); None = when the model can (the local llama.cpp
    backend's stream_choices). A remote model writes freely and is verified.
    retry_temperature: sampling temperature for the regeneration (at the first call's low
    temperature a small model tends to repeat its failed draft); None keeps the model's own.
    require_facts: how many pieces of evidence a draft must cite to be shown (0: any).
    max_tokens: the longest free draft (a constrained one ends with its last sentence).
    brief_prompt: facts without numbers or notes and the product's title and category only
    (None: for the local model, constrained or not).
    """

    def __init__(self, llm: BaseChatModel | None, template_version: int | None = None,
                 max_attempts: int = 2, max_sentences: int = 6,
                 stop: Sequence[str] | None = STOP, constrained: bool | None = None,
                 retry_temperature: float | None = 0.3, require_facts: int = 0,
                 max_tokens: int = 240, brief_prompt: bool | None = None) -> None:
        if max_attempts < 0:
            raise ValueError("max_attempts must be >= 0")
        self.llm = llm
        self.template_version = template_version
        self.max_attempts = max_attempts
        self.max_sentences = max_sentences
        self.stop = list(stop) if stop else None
        self.constrained = _supports_grammar(llm) if constrained is None else constrained
        # The local model gets the brief prompt (ids, directions, names; no numbers), also when
        # it writes freely: it is what the tuned adapter learned. A remote model gets values
        # and notes.
        self.brief = ((self.constrained or _supports_grammar(llm)) if brief_prompt is None else brief_prompt)
        self.retry_temperature = retry_temperature
        self.require_facts = require_facts
        self.max_tokens = max_tokens
        self.prompt = prompts.load("explain", template_version)
        self.retry_prompt = prompts.load("explain_retry")
        self.template_name = self.prompt.metadata["file"] if self.prompt.metadata else "explain"

    def messages(self, sheet: FactSheet, product_context: Any = None,
                 feedback: str = "") -> list[BaseMessage]:
        """The exact messages sent to the LLM (also useful for audit and tests)."""
        ctx = ProductContext.coerce(product_context)
        ids = prompt_fact_ids(sheet, with_title=not self.brief)  # brief: the title is in the data
        values = {"fact_sheet": render_facts(sheet, ids, notes=not self.brief),
                  "data_start": prompts.DATA_START, "data_end": prompts.DATA_END,
                  "product_data": ctx.to_block(brief=self.brief), "feedback": feedback}
        return self.prompt.invoke(values).to_messages()

    def feedback(self, draft: str, check: Verification) -> str:
        """The retry note: the rejected draft and what the verifier found wrong with it."""
        problems = "\n".join(f"- {p}" for p in check.problems[:5])
        msg = self.retry_prompt.invoke({"draft": draft, "problems": problems}).to_messages()[0]
        return str(msg.content).strip() + "\n\n"

    def check(self, draft: str, sheet: FactSheet, untrusted: Sequence[str] = ()) -> Verification:
        """The verifier as the explainer applies it: numbers, directions, words, complete
        sentences, the price stated and (require_facts) enough evidence cited; ``untrusted``:
        the product text the model was shown, which the draft may not copy."""
        v = verify(draft, sheet, require=("recommended_price",), sentences=True, untrusted=untrusted)
        if v.ok and self.require_facts and v.facts_cited < self.require_facts:
            v.ok = False
            v.problems.append(f"cites {v.facts_cited} pieces of evidence, needs {self.require_facts}")
        return v

    def explain(self, sheet: FactSheet, product_context: Any = None) -> Explanation:
        """The finished explanation (stream() run to its end)."""
        final = None
        for event in self.stream(sheet, product_context):
            final = event
        assert final is not None and final.explanation is not None
        return final.explanation

    def stream(self, sheet: FactSheet, product_context: Any = None) -> Iterator[StreamEvent]:
        """Verified sentences as the model writes them, then the final explanation.

        Only the first try streams: a sentence is yielded once the draft up to its end passes
        the verifier (a later sentence may still fail; the final event then replaces what was
        shown with a regeneration or the fallback — nothing unverified is ever yielded)."""
        t0 = time.perf_counter()
        if "recommended_price" not in sheet:
            raise ValueError("fact sheet has no recommended_price fact")
        raw_outputs: list[str] = []
        problems: list[list[str]] = []
        feedback = ""
        shown: list[str] = []
        first_s: float | None = None
        slots = plan_slots(plan(sheet)) if self.constrained else None
        ctx = ProductContext.coerce(product_context)
        untrusted = (ctx.description, *ctx.reviews)  # the title's free part is checked from the sheet
        for attempt in range(1, self.max_attempts + 1 if self.llm is not None else 1):
            msgs = self.messages(sheet, product_context, feedback)
            temperature = self.retry_temperature if feedback and self.retry_temperature is not None else None
            raw = ""
            try:
                for piece in self._pieces(msgs, slots, temperature):
                    raw += piece
                    if attempt == 1:
                        for sentence in self._new_sentences(raw, shown, sheet, whole=slots is not None,
                                                            untrusted=untrusted):
                            if first_s is None:
                                first_s = time.perf_counter() - t0
                            yield StreamEvent("sentence", sentence)
            except Exception as exc:  # a backend failure must not block the suggestion
                raw_outputs.append(raw)
                problems.append([f"LLM call failed: {type(exc).__name__}: {exc}"])
                continue
            raw_outputs.append(raw)
            draft = clean_output(raw, self.max_sentences)
            check = self.check(draft, sheet, untrusted)
            problems.append(check.problems)
            if check.ok:
                rest = [p for p in _SENT.split(check.rendered) if p]
                if attempt == 1 and " ".join(rest[:len(shown)]) == " ".join(shown):
                    for sentence in rest[len(shown):]:  # the whole draft has passed: the rest too
                        shown.append(sentence)
                        if first_s is None:
                            first_s = time.perf_counter() - t0
                        yield StreamEvent("sentence", sentence)
                e = Explanation(check.rendered, check.used_fact_ids,
                                "verified" if attempt == 1 else "verified_after_retry",
                                attempt, time.perf_counter() - t0, raw_outputs, problems,
                                self.template_name, slots is not None, first_s)
                yield StreamEvent("final", e.text, e, replace=e.text != " ".join(shown))
                return
            feedback = self.feedback(draft, check)
        check = verify(fallback_text(sheet), sheet, sentences=True)
        if not check.ok:  # a bug in the fallback wording; never show it unverified
            check = verify("We recommend {recommended_price}.", sheet)
        e = Explanation(check.rendered, check.used_fact_ids, "fallback", len(raw_outputs),
                        time.perf_counter() - t0, raw_outputs, problems, self.template_name,
                        slots is not None, first_s)
        yield StreamEvent("final", e.text, e, replace=e.text != " ".join(shown))

    def stream_suggestion(self, s: Any, product_context: Any = None, *, cost: float | None = None,
                          in_catalog: bool | None = None) -> Iterator[StreamEvent]:
        """stream() for a Suggestion computed with ``explain=False``: the chat shows its price,
        interval and evidence at once, then the wording as it comes. The sheet is the shared
        builder's (facts.suggestion_fact_sheet), the same the service explains with."""
        from assistant.facts import suggestion_fact_sheet

        ctx = product_context if product_context is not None else ProductContext(title=s.title)
        return self.stream(suggestion_fact_sheet(s, cost=cost, in_catalog=in_catalog), ctx)

    def _pieces(self, msgs: list[BaseMessage], slots: list[tuple[list[str], bool]] | None,
                temperature: float | None) -> Iterator[str]:
        """The draft as it comes: chosen sentences (constrained) or streamed text (free)."""
        if slots is not None:
            said = False
            for sentence in self.llm.stream_choices(  # type: ignore[union-attr]
                    msgs, slots, temperature=temperature or 0.0):
                yield (" " if said else "") + sentence
                said = True
            return
        kwargs: dict[str, Any] = {"stop": self.stop, "max_tokens": self.max_tokens}
        if temperature is not None:
            kwargs["temperature"] = temperature
        for chunk in self.llm.stream(msgs, **kwargs):  # type: ignore[union-attr]
            yield chunk.content if isinstance(chunk.content, str) else str(chunk.content)

    def _new_sentences(self, raw: str, shown: list[str], sheet: FactSheet, whole: bool = False,
                       untrusted: Sequence[str] = ()) -> Iterator[str]:
        """Sentences of ``raw`` completed since the last call whose draft so far verifies;
        appends them, rendered, to ``shown``. Stops at the first one that does not.
        whole: ``raw`` ends with a complete sentence (constrained decoding yields whole ones)."""
        if _ECHO.search(raw) or "\n\n" in raw:
            return
        # a sentence is complete once the next one has begun ("…. W")
        parts = [p for p in _SENT.split(re.sub(r"\s+", " ", raw).strip()) if p]
        done = parts if whole else parts[:-1]
        for k in range(len(shown) + 1, min(len(done), self.max_sentences) + 1):
            v = verify(" ".join(done[:k]), sheet, sentences=True, untrusted=untrusted)
            if not v.ok:
                return
            sentences = [p for p in _SENT.split(v.rendered) if p]
            # the rendered text splits like the draft unless a value holds a sentence end
            if len(sentences) != k:
                return
            shown.append(sentences[-1])
            yield sentences[-1]
