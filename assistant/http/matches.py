"""Competitor matches over HTTP: the review queue, confirm, reject, relink (issue #20).

Mounted under ``/v1/graph/matches`` by :func:`assistant.http.app.create_app`::

    curl -H "X-API-Key: $KEY" 'localhost:8000/v1/graph/matches?status=pending&limit=20'
    curl -X POST -H "X-API-Key: $CURATOR" localhost:8000/v1/graph/matches/12/confirm
    curl -X POST -H "X-API-Key: $CURATOR" -H 'Content-Type: application/json' \\
         localhost:8000/v1/graph/matches/13/reject -d '{"reason": "other colour"}'
    curl -X POST -H "X-API-Key: $CURATOR" -H 'Content-Type: application/json' \\
         localhost:8000/v1/graph/matches/14/relink -d '{"product_id": "B07JW9H4J1"}'

Proposals come from ``pricing match`` runs (:mod:`assistant.matching`). Merchant keys read,
curator keys decide (403 otherwise; the actor is ``curator:<first 4 characters>``). A
decision writes or removes the competitor offer through the service's curation worker, so it
is validated, audited and revertible like every ``/v1/graph`` edit, and the next suggestion
already sees it; the verdict is stored as a training label, and a rejected pair is never
proposed again. Errors: 404 unknown proposal, 422 a refused decision (e.g. confirming a
listing already linked elsewhere: relink it), 503 without a graph store.
"""
from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from assistant.curation import CurationService, GraphStoreMissing, json_ready
from assistant.http.deps import curator_actor, get_service
from assistant.http.errors import curation_error, error_response, no_store
from assistant.matching import MatchService, on_curation_worker
from assistant.service import PricingService
from graph.curation import CurationError
from graph.match_store import STATUSES

MAX_ID = 2**63 - 1
Status = Literal[STATUSES]  # the store's states


class MatchError(BaseModel):
    error: str
    field: str | None = None


class ProposalOut(BaseModel):
    """One scored (competitor listing, catalog product) pair and its state."""

    id: int
    run_id: str
    competitor: str
    listing_key: str
    listing: dict[str, Any] = Field(description="the competitor's listing as read")
    product_id: str
    score: float = Field(description="the matcher's P(same product)")
    rank: int = Field(description="1 = the listing's best candidate")
    features: dict[str, float] = Field(description="the features that decided it "
                                                   "(log-odds contributions)")
    status: Status
    decided_by: str | None = None
    decided_at: str | None = None
    audit_id: int | None = Field(default=None, description="audit entry of its offer link")
    reason: str | None = None
    created_at: str | None = None


class MatchListOut(BaseModel):
    counts: dict[str, int] = Field(description="proposals by status")
    items: list[ProposalOut]


class DecisionIn(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)


class RelinkIn(DecisionIn):
    product_id: str = Field(min_length=1, max_length=200,
                            description="the catalog product the listing really is")


ERRORS = {s: {"model": MatchError} for s in (401, 403, 404, 422, 503)}
router = APIRouter(prefix="/v1/graph/matches", tags=["matches"], responses=ERRORS)


def get_curation(service: PricingService = Depends(get_service)) -> CurationService:
    return service.curation


def _out(p: Any) -> ProposalOut:
    return ProposalOut.model_validate(json_ready(p.to_dict()))


def _call(cs: CurationService, fn) -> Any:
    if not cs.configured:
        return no_store()
    try:
        return on_curation_worker(cs, fn)
    except KeyError as exc:
        return error_response(404, exc.args[0] if exc.args else "unknown proposal",
                              "proposal_id")
    except CurationError as exc:
        return curation_error(exc)
    except GraphStoreMissing:
        return no_store()


@router.get("", response_model=MatchListOut)
def list_matches(status: Status | None = Query("pending", description="proposals in this "
                                                "state (default: the review queue)"),
                 competitor: str | None = Query(None, max_length=200),
                 limit: int = Query(50, ge=1, le=1000), offset: int = Query(0, ge=0, le=MAX_ID),
                 cs: CurationService = Depends(get_curation)):
    """Proposals, highest score first: by default the pending ones (the review queue)."""
    def read(ms: MatchService) -> MatchListOut:
        ms.sync_reverted()
        items = ms.matches.find(competitor=competitor, status=status, limit=limit, offset=offset)
        return MatchListOut(counts=ms.matches.counts(competitor),
                            items=[_out(p) for p in items])
    return _call(cs, read)


@router.get("/{proposal_id}", response_model=ProposalOut)
def get_match(proposal_id: int = Path(ge=1, le=MAX_ID),
              cs: CurationService = Depends(get_curation)):
    return _call(cs, lambda ms: _out(ms.proposal(proposal_id)))


@router.post("/{proposal_id}/confirm", response_model=ProposalOut)
def confirm(proposal_id: int = Path(ge=1, le=MAX_ID), req: DecisionIn | None = None,
            actor: str = Depends(curator_actor), cs: CurationService = Depends(get_curation)):
    """Same product: link the offer (audited) and keep the pair as a training label."""
    reason = req.reason if req else None
    return _call(cs, lambda ms: _out(ms.confirm(proposal_id, actor=actor, reason=reason)))


@router.post("/{proposal_id}/reject", response_model=ProposalOut)
def reject(proposal_id: int = Path(ge=1, le=MAX_ID), req: DecisionIn | None = None,
           actor: str = Depends(curator_actor), cs: CurationService = Depends(get_curation)):
    """Not the same product: remove its offer if linked; never proposed again."""
    reason = req.reason if req else None
    return _call(cs, lambda ms: _out(ms.reject(proposal_id, actor=actor, reason=reason)))


@router.post("/{proposal_id}/relink", response_model=ProposalOut)
def relink(req: RelinkIn, proposal_id: int = Path(ge=1, le=MAX_ID),
           actor: str = Depends(curator_actor), cs: CurationService = Depends(get_curation)):
    """The listing is another catalog product: reject this one, link that one (confirmed)."""
    return _call(cs, lambda ms: _out(ms.relink(proposal_id, req.product_id, actor=actor,
                                               reason=req.reason)))

