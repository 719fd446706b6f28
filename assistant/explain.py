"""Explain a price suggestion in plain words, never showing an unverified number.

Use:
    from assistant.explain import Explainer
    from assistant.llm import make_llm
    exp = Explainer(make_llm()).explain(sheet, {"title": "Steel bottle", "reviews": ["Great"]})
    exp.text, exp.status, exp.fact_ids     # status: verified | verified_after_retry | fallback

Flow: prompt (fact sheet + quoted product data) -> LLM draft with {fact_id} placeholders ->
verify -> on failure one regeneration with the problems fed back -> verify -> else a
deterministic explanation written in code from the same facts ("fallback"). The returned
text is always rendered (placeholders filled in) and has always passed the verifier.
"""
from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

import prompts
from assistant.facts import FactSheet
from assistant.verify import Verification, verify

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

    def to_block(self, max_reviews: int = 3) -> str:
        """Lines `field: "quoted text"`, each sanitized by prompts.quote_untrusted."""
        q = prompts.quote_untrusted
        lines = []
        for name, value, limit in (("title", self.title, 200), ("brand", self.brand, 80),
                                   ("category", self.category, 120), ("description", self.description, 300)):
            if value and value.strip():
                lines.append(f'{name}: "{q(value, limit)}"')
        for review in list(self.reviews)[:max_reviews]:
            if review and str(review).strip():
                lines.append(f'review: "{q(review, 200)}"')
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_SENT = re.compile(r"(?<=[.!?])\s+")
_ECHO = re.compile(r"\{\w+\}\s*:|\n\s*facts\s*:", re.I)
# Stop at the end of the paragraph: the answer is 2-4 sentences.
STOP = ("\n\n",)


def clean_output(raw: str, max_sentences: int = 4) -> str:
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


_PROMPT_FIRST = ("recommended_price", "interval_low", "change_pct", "vs_category_median_pct",
                 "vs_cheapest_competitor_pct", "comparables_count", "competitor_count", "category_count")
_PROMPT_LAST = ("margin_pct", "category_name", "cheapest_competitor_name", "product_title")


def prompt_fact_ids(sheet: FactSheet) -> list[str]:
    """The facts shown to the model, most useful first.

    Facts that a shown phrase already names ({category_median} inside the median comparison)
    and redundant ones (change_amount beside change_pct) are left out: a 135M model copies
    better from a short menu. The verifier still accepts every fact in the sheet.
    """
    # The two strongest drivers: the sheet lists every one, the prompt only what matters most.
    extra = [f.id for f in sheet if re.fullmatch(r"driver_[12]_effect|guardrail_\d+", f.id)]
    drivers = [f.id for f in sheet if re.fullmatch(r"driver_[12]", f.id)
               and f"{f.id}_effect" not in sheet]
    ids = [i for i in _PROMPT_FIRST if i in sheet] + extra + drivers + [i for i in _PROMPT_LAST if i in sheet]
    return ids


def fallback_text(sheet: FactSheet) -> str:
    """A deterministic explanation with {fact_id} placeholders, from whatever the sheet has."""
    has = sheet.__contains__
    out = ["We recommend {recommended_price}"
           + (", with a likely range of {interval_low} to {interval_high}." if has("interval_low") else ".")]
    if has("change_pct"):
        d = sheet["change_pct"].direction
        out.append("That is the same as your current price of {current_price}." if d == "equal" else
                   f"That is {{change_pct}} {d} your current price of {{current_price}}.")
    if has("vs_category_median_pct"):
        d = sheet["vs_category_median_pct"].direction
        median = "the {category_name} median" if has("category_name") else "the category median"
        across = " across {category_count} products" if has("category_count") else ""
        out.append(f"It matches {median} of {{category_median}}{across}." if d == "equal" else
                   f"It is {{vs_category_median_pct}} {d} {median} of {{category_median}}{across}.")
    if has("vs_cheapest_competitor_pct"):
        d = sheet["vs_cheapest_competitor_pct"].direction
        who = " from {cheapest_competitor_name}" if has("cheapest_competitor_name") else ""
        n = sheet["competitor_count"].value if has("competitor_count") else None
        lead = ("The cheapest of {competitor_count} competitor offers is {cheapest_competitor}"
                if n is not None and n != 1 else "The cheapest competitor offer is {cheapest_competitor}")
        tail = ", the same as the recommendation." if d == "equal" else \
            f", so the recommendation is {{vs_cheapest_competitor_pct}} {d} it."
        out.append(lead + who + tail)
    if has("comparables_count"):
        out.append("The estimate draws on {comparables_count} comparable products.")
    if has("driver_1"):
        d = sheet["driver_1_effect"].direction if has("driver_1_effect") else "equal"
        move = {"below": ", which moved the price down by {driver_1_effect}",
                "above": ", which moved the price up by {driver_1_effect}"}.get(d or "", "")
        out.append("The biggest factor was {driver_1}" + move + ".")
    guards = [f"{{{f.id}}}" for f in sheet if re.fullmatch(r"guardrail_\d+", f.id)]
    if guards:
        joined = guards[0] if len(guards) == 1 else ", ".join(guards[:-1]) + " and " + guards[-1]
        out.append(f"Guardrails applied: {joined}.")
    return " ".join(out)


class Explainer:
    """Generate -> verify -> regenerate once -> deterministic fallback.

    llm: any LangChain chat model (None: always use the fallback, no LLM call).
    template_version: version of prompts/explain_v*.txt (None = newest).
    max_attempts: LLM calls before falling back (2 = one regeneration).
    stop: stop sequences passed to the model (None: none).
    compact_prompt: show the model prompt_fact_ids(sheet) only, not every fact.
    retry_temperature: sampling temperature for the regeneration (at the first call's low
    temperature a small model tends to repeat its failed draft); None keeps the model's own.
    """

    def __init__(self, llm: BaseChatModel | None, template_version: int | None = None,
                 max_attempts: int = 2, max_sentences: int = 4,
                 stop: Sequence[str] | None = STOP, compact_prompt: bool = True,
                 retry_temperature: float | None = 0.3) -> None:
        if max_attempts < 0:
            raise ValueError("max_attempts must be >= 0")
        self.llm = llm
        self.template_version = template_version
        self.max_attempts = max_attempts
        self.max_sentences = max_sentences
        self.stop = list(stop) if stop else None
        self.compact_prompt = compact_prompt
        self.retry_temperature = retry_temperature
        self.prompt = prompts.load("explain", template_version)
        self.retry_prompt = prompts.load("explain_retry")
        self.template_name = self.prompt.metadata["file"] if self.prompt.metadata else "explain"

    def messages(self, sheet: FactSheet, product_context: Any = None,
                 feedback: str = "") -> list[BaseMessage]:
        """The exact messages sent to the LLM (also useful for audit and tests)."""
        ctx = ProductContext.coerce(product_context)
        ids = prompt_fact_ids(sheet) if self.compact_prompt else None
        values = {"fact_sheet": sheet.render_for_prompt(sanitize=prompts.quote_untrusted, ids=ids),
                  "data_start": prompts.DATA_START, "data_end": prompts.DATA_END,
                  "product_data": ctx.to_block(), "feedback": feedback}
        return self.prompt.invoke(values).to_messages()

    def feedback(self, draft: str, check: Verification) -> str:
        """The retry note: the rejected draft and what the verifier found wrong with it."""
        problems = "\n".join(f"- {p}" for p in check.problems[:5])
        msg = self.retry_prompt.invoke({"draft": draft, "problems": problems}).to_messages()[0]
        return str(msg.content).strip() + "\n\n"

    def explain(self, sheet: FactSheet, product_context: Any = None) -> Explanation:
        t0 = time.perf_counter()
        if "recommended_price" not in sheet:
            raise ValueError("fact sheet has no recommended_price fact")
        raw_outputs: list[str] = []
        problems: list[list[str]] = []
        feedback = ""
        for attempt in range(1, self.max_attempts + 1 if self.llm is not None else 1):
            msgs = self.messages(sheet, product_context, feedback)
            try:
                kwargs = {"stop": self.stop}
                if feedback and self.retry_temperature is not None:
                    kwargs["temperature"] = self.retry_temperature
                reply = self.llm.invoke(msgs, **kwargs)  # type: ignore[union-attr]
                raw = reply.content if isinstance(reply.content, str) else str(reply.content)
            except Exception as exc:  # a backend failure must not block the suggestion
                raw_outputs.append("")
                problems.append([f"LLM call failed: {type(exc).__name__}: {exc}"])
                continue
            raw_outputs.append(raw)
            draft = clean_output(raw, self.max_sentences)
            check = verify(draft, sheet, require=("recommended_price",))
            problems.append(check.problems)
            if check.ok:
                return Explanation(check.rendered, check.used_fact_ids,
                                   "verified" if attempt == 1 else "verified_after_retry",
                                   attempt, time.perf_counter() - t0, raw_outputs, problems,
                                   self.template_name)
            feedback = self.feedback(draft, check)
        check = verify(fallback_text(sheet), sheet)
        if not check.ok:  # a bug in the fallback wording; never show it unverified
            check = verify("We recommend {recommended_price}.", sheet)
        return Explanation(check.rendered, check.used_fact_ids, "fallback", len(raw_outputs),
                           time.perf_counter() - t0, raw_outputs, problems, self.template_name)
