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
from langchain_core.messages import AIMessage, BaseMessage

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


def clean_output(raw: str, max_sentences: int = 4) -> str:
    """Trim a draft: drop a cut-off last sentence and anything past `max_sentences`."""
    text = re.sub(r"\s+", " ", raw.replace("**", "")).strip()
    text = re.sub(r"^(answer|explanation|assistant)\s*:\s*", "", text, flags=re.I)
    parts = [p for p in _SENT.split(text) if p]
    if len(parts) > 1 and not re.search(r"[.!?]['\")]*$", parts[-1]):
        parts = parts[:-1]  # max_tokens cut the sentence
    return " ".join(parts[:max_sentences]).strip()


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
    """

    def __init__(self, llm: BaseChatModel | None, template_version: int | None = None,
                 max_attempts: int = 2, max_sentences: int = 4) -> None:
        if max_attempts < 0:
            raise ValueError("max_attempts must be >= 0")
        self.llm = llm
        self.template_version = template_version
        self.max_attempts = max_attempts
        self.max_sentences = max_sentences
        self.prompt = prompts.load("explain", template_version)
        self.retry_prompt = prompts.load("explain_retry")
        self.template_name = self.prompt.metadata["file"] if self.prompt.metadata else "explain"

    def messages(self, sheet: FactSheet, product_context: Any = None,
                 retry: list[BaseMessage] | None = None) -> list[BaseMessage]:
        """The exact messages sent to the LLM (also useful for audit and tests)."""
        ctx = ProductContext.coerce(product_context)
        values = {"fact_sheet": sheet.render_for_prompt(sanitize=prompts.quote_untrusted),
                  "data_start": prompts.DATA_START, "data_end": prompts.DATA_END,
                  "product_data": ctx.to_block()}
        if retry:
            values["retry"] = retry
        return self.prompt.invoke(values).to_messages()

    def _retry_turn(self, draft: str, check: Verification) -> list[BaseMessage]:
        problems = "\n".join(f"- {p}" for p in check.problems[:5])
        return [AIMessage(content=draft)] + self.retry_prompt.invoke({"problems": problems}).to_messages()

    def explain(self, sheet: FactSheet, product_context: Any = None) -> Explanation:
        t0 = time.perf_counter()
        if "recommended_price" not in sheet:
            raise ValueError("fact sheet has no recommended_price fact")
        raw_outputs: list[str] = []
        problems: list[list[str]] = []
        retry: list[BaseMessage] | None = None
        for attempt in range(1, self.max_attempts + 1 if self.llm is not None else 1):
            msgs = self.messages(sheet, product_context, retry)
            try:
                reply = self.llm.invoke(msgs)  # type: ignore[union-attr]
                raw = reply.content if isinstance(reply.content, str) else str(reply.content)
            except Exception as exc:  # a backend failure must not block the suggestion
                raw_outputs.append("")
                problems.append([f"LLM call failed: {type(exc).__name__}: {exc}"])
                continue
            raw_outputs.append(raw)
            draft = clean_output(raw, self.max_sentences)
            check = verify(draft, sheet)
            problems.append(check.problems)
            if check.ok:
                return Explanation(check.rendered, check.used_fact_ids,
                                   "verified" if attempt == 1 else "verified_after_retry",
                                   attempt, time.perf_counter() - t0, raw_outputs, problems,
                                   self.template_name)
            retry = self._retry_turn(draft, check)
        check = verify(fallback_text(sheet), sheet)
        if not check.ok:  # a bug in the fallback wording; never show it unverified
            check = verify("We recommend {recommended_price}.", sheet)
        return Explanation(check.rendered, check.used_fact_ids, "fallback", len(raw_outputs),
                           time.perf_counter() - t0, raw_outputs, problems, self.template_name)
