"""Catalog CSV upload over real HTTP (assistant.http.imports): a curator's key, per-row
errors with nothing stored, the catalog view showing the new products, revert through the
graph API. ~10 s after `tiny_service`."""
from __future__ import annotations

import httpx
import pytest

from assistant.http.app import ApiSettings, create_app
from tests.conftest import live_server, service_on_store_copy
from tests.test_catalog_import import leaves, quoted

MERCHANT, CURATOR = "merchant-key-0123456789", "curator-key-0123456789"
NAMES = {MERCHANT: "mia", CURATOR: "carl"}
CSV = {"Content-Type": "text/csv"}


@pytest.fixture(scope="module")
def svc(tiny_service, tmp_path_factory):
    s = service_on_store_copy(tiny_service, tmp_path_factory.mktemp("api_imports"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def url(svc):
    keys = {MERCHANT: "merchant", CURATOR: "curator"}
    with live_server(create_app(svc, ApiSettings(api_keys=keys, key_names=NAMES))) as base:
        yield base + "/v1/imports/catalog"


def post(url: str, body: bytes | str, key: str = CURATOR, **params) -> httpx.Response:
    return httpx.post(url, content=body, params=params, timeout=120,
                      headers={**CSV, "X-API-Key": key})


def test_a_curator_uploads_the_view_shows_it_and_a_revert_undoes_it(url, svc):
    leaf = sorted(leaves(svc))[0]
    body = ("product_id,title,category_path,price,currency,cost\n"
            f"API-1,Bamboo cutting board large,{quoted(leaf)},650,INR,300\n"
            f"API-2,Bamboo cutting board small,{quoted(leaf)},450,INR,\n")
    r = post(url, body, key=MERCHANT)
    assert r.status_code == 403 and r.json()["field"] == "X-API-Key"
    r = post(url, body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["stored"], out["added"], out["updated"], out["suggested"]) == (True, 2, 0, 2)
    base = url.rsplit("/v1/", 1)[0]
    headers = {"X-API-Key": MERCHANT}
    page = httpx.get(base + "/v1/products", params={"status": "suggested", "limit": 1000},
                     headers=headers, timeout=60).json()
    assert {"API-1", "API-2"} <= set(page["product_ids"])        # the view follows the upload
    audit = httpx.get(base + "/v1/graph/audit", params={"limit": 1}, headers=headers,
                      timeout=60).json()
    assert audit["entries"][0]["actor"] == "curator:carl"
    r = httpx.post(f"{base}/v1/graph/audit/{out['audit_id']}/revert", timeout=120,
                   headers={"X-API-Key": CURATOR})
    assert r.status_code == 200, r.text
    assert "API-1" not in svc.products.index
    page = httpx.get(base + "/v1/products", params={"limit": 10000}, headers=headers,
                     timeout=60).json()
    assert "API-1" not in page["product_ids"]


def test_refused_rows_answer_422_with_every_row_and_store_nothing(url, svc):
    before = set(svc.products.index)
    body = ("product_id,title,price,currency\n"
            "R-1,Fine,10,INR\n"
            "R-2,Bad,-4,INR\n"
            "R-3,Worse,10,XXX\n")
    r = post(url, body)
    assert r.status_code == 422
    err = r.json()
    assert err["field"] == "price" and "nothing stored" in err["error"]
    assert [(x["row"], x["field"]) for x in err["rows"]] == [(3, "price"), (4, "currency")]
    assert set(svc.products.index) == before
    r = post(url, body, partial="true", suggest="false")
    assert r.status_code == 200 and r.json()["added"] == 1 and len(r.json()["errors"]) == 2
    assert "R-1" in svc.products.index and "R-2" not in svc.products.index


@pytest.mark.parametrize("body, field", [(b"\xff\xfe\x00", "file"), (b"id,title\n1,x\n", "header"),
                                         (b"", "file")])
def test_unreadable_files_answer_422_naming_file_or_header(url, body, field):
    r = post(url, body)
    assert r.status_code == 422 and r.json()["field"] == field, r.text
