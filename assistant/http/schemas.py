"""Request and response bodies of the REST API (pydantic; they make the OpenAPI schema).

Use::

    from assistant.http.schemas import SuggestionRequest, OpRequest, NodeOut
    SuggestionRequest.model_validate({"product_id": "B07X", "explain": False})
    NodeOut.model_validate(service.curation.node("brand:boat"))   # from the domain dataclass

The domain's own models (``Suggestion``, ``FeedbackIn``, ``ProductIn``, ``WhatIfOut``) are
used as they are; these are the API's envelopes around them.
"""
from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    WrapValidator,
    create_model,
    field_validator,
)

from assistant.guardrails import GuardrailPolicy
from assistant.suggestion import Inventory, Suggestion, WhatIfOut
from graph.contracts import MAX_ID_LENGTH, ProductIn, check_id
from graph.curation import MAX_BULK_ROWS, Curator
from graph.schema import NodeType

# --------------------------------------------------------------------------- errors


class ErrorBody(BaseModel):
    error: str
    field: str | None = None


class GraphError(BaseModel):
    error: str
    field: str | None = None
    node: str | None = None
    rows: list[dict[str, Any]] | None = None


# --------------------------------------------------------------------------- suggestions

class SuggestionRequest(BaseModel):
    product_id: str | None = Field(default=None, max_length=MAX_ID_LENGTH,
                                   description="a catalog product; or give `product` inline")
    product: ProductIn | None = None
    explain: bool = True
    k_comparables: int = Field(default=5, ge=0, le=50)
    policy: GuardrailPolicy = Field(default_factory=GuardrailPolicy)
    inventory: Inventory | None = Field(
        default=None,
        description="optional clearance rule: `{stock, days}` asks for the price expected to "
                    "sell `stock` units within `days` days instead of the profit optimum. Used "
                    "in demand-aware mode only (a catalog product with sales history and a unit "
                    "cost); otherwise the suggestion stays in market mode and `mode_reason` "
                    "says why. The evidence's `elasticity` then has `rule: clearance`, "
                    "`clearance_price`, `expected_leftover` and `days_to_sell_out`.")

    @field_validator("product_id")
    @classmethod
    def _valid_id(cls, v: str | None) -> str | None:
        return check_id(v, "product_id")  # the rule ingest and curation apply to ids


class BatchRequest(BaseModel):
    items: list[SuggestionRequest] = Field(min_length=1, max_length=10000, description=(
        "at most 10,000 items (the server's batch_max_items), or 20 with `explain: true` "
        "(batch_max_explained)"))
    explain: bool = False
    stream: bool = Field(default=False, description="answer as JSON Lines, one result per line")


class BatchItemResult(BaseModel):
    index: int
    suggestion: Suggestion | None = None
    error: str | None = None


class BatchResponse(BaseModel):
    results: list[BatchItemResult]


# --------------------------------------------------------------------------- demand what-ifs

class WhatIfResponse(WhatIfOut):
    product_id: str
    currency: str | None = None
    elasticity: dict[str, Any]


class CurveResponse(BaseModel):
    product_id: str
    currency: str | None = None
    elasticity: dict[str, Any]
    points: list[WhatIfOut]


# --------------------------------------------------------------------------- graph curation

OPS = ("rename_node", "update_node", "add_category", "add_brand", "add_competitor",
       "add_product", "delete_node", "merge_nodes", "reparent_category", "link_category",
       "unlink_category", "link_brand", "unlink_brand", "add_offer", "remove_offer")
OpName = Literal[OPS]  # type: ignore[valid-type]
NodeTypeName = Literal[tuple(t.value for t in NodeType)]  # type: ignore[valid-type]


def _params_model(op: str) -> type[BaseModel]:
    """The parameters of ``Curator.<op>`` as a pydantic model (unknown keys refused), so the
    API and the Curator never disagree on names, types or defaults."""
    fn = getattr(Curator, op)
    hints = typing.get_type_hints(fn)
    fields: dict[str, Any] = {}
    for name, p in inspect.signature(fn).parameters.items():
        if name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        fields[name] = (hints.get(name, Any), ... if p.default is p.empty else p.default)
    title = "".join(w.title() for w in op.split("_")) + "Params"
    return create_model(title, __config__=ConfigDict(extra="forbid"), **fields)


PARAMS: dict[str, type[BaseModel]] = {op: _params_model(op) for op in OPS}


def describe_ops() -> str:
    """The operations and their parameters, as a Markdown list (``?``: optional)."""
    lines = []
    for op, model in PARAMS.items():
        args = ", ".join(n if f.is_required() else f"{n}?" for n, f in model.model_fields.items())
        lines.append(f"- `{op}`: {args}")
    return "\n".join(lines)


def _one_error(value: Any, handler: Callable[[Any], Any]) -> Any:
    try:
        return handler(value)
    except ValidationError:  # one message for the field, not one per member of the union
        raise ValueError("give a version (integer) or {node id: version}") from None


Expected = Annotated[StrictInt | dict[str, StrictInt] | None, WrapValidator(_one_error)]


class OpRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    op: OpName
    params: dict[str, Any] = Field(default_factory=dict,
                                   description="the operation's arguments (see the list above)")
    expected: Expected = Field(default=None, description=(
        "optimistic lock: the version of the operation's first node argument, or "
        "{node id: version}; a node changed since answers 409. Required to commit an edit of "
        "existing nodes (not for add_* operations, not for dry runs), unless `force`"))
    force: bool = Field(default=False, description="commit without `expected`, overwriting "
                                                   "whatever is there now")
    reason: str | None = Field(default=None, max_length=2000)
    dry_run: bool = False


class BulkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BULK_ROWS, description=(
        "mapping rows: op (link_category, unlink_category, link_brand, unlink_brand, "
        "add_offer, remove_offer), product_id and as the op needs category_path, brand, "
        "competitor, price, currency, observed_at, url, shipping"))
    create_missing: bool = False
    expected: dict[str, StrictInt] | None = Field(default=None, description=(
        "optimistic lock: {node id: version} of the nodes read; required to commit unless "
        "`force`"))
    force: bool = Field(default=False, description="commit without `expected`")
    reason: str | None = Field(default=None, max_length=2000)
    dry_run: bool = False


class RevertRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=2000)
    dry_run: bool = False


class ImpactOut(BaseModel):
    direct: list[str] = Field(description="products whose own links/attributes change")
    products: list[str] = Field(description="products whose graph features change")
    features: dict[str, dict[str, list[float | None]]]
    prices: dict[str, list[float | None]] | None = Field(
        default=None, description="product id -> [model price before, after]")


class CurationResultOut(BaseModel):
    op: str
    params: dict[str, Any]
    dry_run: bool
    audit_id: int | None
    summary: dict[str, int]
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    versions: dict[str, int]
    impact: ImpactOut | None = None


class NodeHit(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    type: str
    name: str | None
    degree: int


class NodeSearchOut(BaseModel):
    total: int = Field(description="matches before the limit")
    nodes: list[NodeHit]


class EdgeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    type: str
    key: str | int
    node: str = Field(description="the neighbour's id")
    node_type: str | None
    name: str | None = Field(description="the neighbour's name (a category's path)")
    attrs: dict[str, Any]


class NodeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    type: str
    name: str | None
    attrs: dict[str, Any]
    provenance: str | None
    updated_at: str | None
    version: int | None = Field(description="for `expected`; None without a graph store")
    out_edges: list[EdgeOut]
    in_edges: list[EdgeOut]
    n_out: int
    n_in: int


class AuditEntryOut(BaseModel):
    id: int
    at: str
    actor: str
    op: str
    params: dict[str, Any]
    reason: str | None
    reverts: int | None
    reverted_by: int | None
    summary: dict[str, int]
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class AuditListOut(BaseModel):
    graph_store: bool = Field(description="False: no store configured, so no audit trail")
    entries: list[AuditEntryOut]


class QualityOut(BaseModel):
    counts: dict[str, int]
    duplicate_brands: list[dict[str, Any]]
    price_outliers: list[dict[str, Any]]
    single_product_categories: list[str]
    competitors_without_offers: list[str]
    products_without_category: list[str]
    products_in_inner_categories: list[list[str]]
