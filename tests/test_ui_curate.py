"""The Curate tab: its callbacks (no browser) and one edit through a real browser.

Edits run on a COPY of the tiny model's graph in a temporary SQLite store, with its own
PricingService, so the session-wide ``tiny_service`` is never changed. Each test edits its
own nodes. The browser test serves the API + UI (Curate tab included) with uvicorn on a free
port and drives Debian's Chromium through Playwright; its screenshot goes to a temporary
folder, or to $PRICING_SCREENSHOTS (e.g. docs/, for `make screenshots`). Budget: < 90 s.

Run alone: ``.venv/bin/pytest -q tests/test_ui_curate.py``
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from assistant.service import PricingService
from assistant.web.curate import (
    ACTIONS,
    CurateDesk,
    FormError,
    actions_for,
    build_edit,
    curator_keys_of,
    field_visibility,
    neighbourhood_figure,
)
from graph.curation import Curator
from tests.conftest import live_server, service_on_store_copy

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def svc(tiny_service, tmp_path_factory) -> PricingService:
    return service_on_store_copy(tiny_service, tmp_path_factory.mktemp("curate_ui"))


@pytest.fixture(scope="module")
def desk(svc) -> CurateDesk:
    return CurateDesk(svc)


@pytest.fixture(scope="module")
def picks(svc) -> dict:
    """Brands with products (plain ASCII names), a competitor, leaf categories with prices."""
    p = svc.products
    sizes = p.groupby("brand").size()
    brands = sorted(b for b, n in sizes.items() if n >= 2 and b.isascii() and b.isalnum())
    g = svc.graph
    comps = sorted(n for n, d in g.nodes(data=True) if d.get("type") == "competitor")
    priced = p[p["price"].notna() & p["category_path"].notna()]
    leaves = [c for c in priced["category_path"].unique()
              if not any(d.get("type") == "child_of"
                         for _, _, d in g.in_edges(f"category:{c}", data=True))]
    counts = priced[priced["category_path"].isin(leaves)].groupby(
        ["currency", "category_path"])["price"].agg(["count", "median"])
    counts = counts[counts["count"] >= 5].sort_values("median")
    cur = counts.index[0][0]
    by_cur = counts.loc[cur]
    cheap, dear = by_cur.index[0], by_cur.index[-1]
    mover = sorted(priced.index[(priced["category_path"] == cheap)
                                & (priced["currency"] == cur)])[0]
    by_brand = {b: sorted(p.index[p["brand"] == b]) for b in brands[:8]}
    return {"brands": brands, "brand_products": by_brand, "competitor": comps[0],
            "cheap": cheap, "dear": dear,
            "mover": mover, "currency": cur}


def _brand_id(name: str) -> str:
    from graph.schema import node_id
    return node_id("brand", name)


# --------------------------------------------------------------------------- the form (pure)

def test_form_errors_name_the_field():
    with pytest.raises(FormError, match="^Node: load a node first"):
        build_edit(None, None, "Rename", "x")
    with pytest.raises(FormError, match="^Edit: choose what to do"):
        build_edit("brand:a", "brand", None)
    with pytest.raises(FormError, match="does not apply to a brand"):
        build_edit("brand:a", "brand", "Link category", "A > B")
    with pytest.raises(FormError, match="^New name: required"):
        build_edit("brand:a", "brand", "Rename", "  ")
    with pytest.raises(FormError, match="^Attribute: choose"):
        build_edit("product:1", "product", "Set attribute", "5", attribute="")
    with pytest.raises(FormError, match="^Competitor: required"):
        build_edit("product:1", "product", "Add competitor offer", price=5, currency="INR")
    with pytest.raises(FormError, match="^Offer price: required"):
        build_edit("product:1", "product", "Add competitor offer", competitor="shop",
                   currency="INR")
    assert build_edit("product:1", "product", "Set attribute", "12.5", attribute="price") == (
        "update_node", {"node": "product:1", "changes": {"price": 12.5}})
    assert build_edit("product:1", "product", "Set attribute", "", attribute="cost") == (
        "update_node", {"node": "product:1", "changes": {"cost": None}})
    assert build_edit("competitor:shop", "competitor", "Remove competitor offer", "B07") == (
        "remove_offer", {"competitor": "competitor:shop", "product": "B07", "observed_at": None})
    assert build_edit("category:A > B", "category", "Move category under", "") == (
        "reparent_category", {"category": "category:A > B", "new_parent": None})
    assert actions_for("brand") == ["Rename", "Set attribute", "Merge into", "Delete node"]
    assert actions_for(None) == []
    f = field_visibility("Add competitor offer")
    assert f["offer"] and not f["attribute"] and f["value"]
    assert field_visibility("Add competitor offer", "product")["value"] is False
    assert field_visibility("Unlink brand")["value"] is False
    assert set(ACTIONS) >= {"Rename", "Set attribute", "Link category", "Link brand",
                            "Add competitor offer", "Remove competitor offer", "Merge into",
                            "Move category under"}


def test_curator_keys_follow_the_server_settings():
    from assistant.http.app import ApiSettings

    assert curator_keys_of(ApiSettings(auth_disabled=True)) is None
    m, c = "merchant-key-0123456789", "curator-key-01234567890"
    assert curator_keys_of(ApiSettings(api_keys={m: "merchant", c: "curator"})) == [c]
    assert curator_keys_of(ApiSettings(api_keys={m: "merchant"})) == []


# --------------------------------------------------------------------------- reading

def test_search_load_and_picture(desk, svc, picks):
    brand = picks["brands"][0]
    hits = desk.search("brand", brand.lower())
    assert list(hits.columns) == ["id", "type", "name", "degree"]
    assert hits.iloc[0]["id"] == _brand_id(brand) and set(hits["type"]) == {"brand"}
    assert desk.search("any", "zzzz-no-such-node-zzzz").empty
    v = desk.load(_brand_id(brand))
    assert v.type == "brand" and v.version >= 1
    assert f"**{_brand_id(brand)}**" in v.details and "version" in v.details
    assert set(v.edges["edge"]) == {"made_by"} and len(v.edges) == svc.graph.in_degree(v.id)
    assert isinstance(v.figure, Figure)
    title = v.figure.axes[0].get_title()
    assert f"{svc.graph.degree(v.id)} neighbours" in title
    missing = desk.load("brand:zzzz-nothing")
    assert missing.id is None and "No node `brand:zzzz-nothing`" in missing.details

    # a big category: the picture caps the neighbours it draws and says so
    fig = neighbourhood_figure(svc.graph, f"category:{picks['dear']}", max_neighbours=3)
    assert "(first 3 of" in fig.axes[0].get_title()


def test_worklist_rows_load_nodes(desk, svc):
    wl = desk.worklist()
    assert list(wl.columns) == ["check", "node", "detail"] and len(wl) > 0
    assert all(n in svc.graph for n in wl["node"])
    assert CurateDesk.pick(["duplicate brands", "brand:boat",
                            "looks like brand:bo at (same normalised name, 1.00)"]) == (
        "brand:boat", "Merge into", "brand:bo at")
    assert CurateDesk.pick(["price outlier", "product:X", "..."]) == ("product:X", None, "")
    assert CurateDesk.pick(None) == (None, None, "")


# --------------------------------------------------------------------------- editing

def test_bad_edits_come_back_as_messages(desk, svc, picks):
    a, b = picks["brands"][1], picks["brands"][2]
    n_audit = len(desk.audit())
    v = desk.load(_brand_id(a))
    out = desk.edit(v.id, v.version, "Rename", value=b, who="alice", dry_run=False)
    assert not out.ok and "Refused" in out.message and "already exists" in out.message
    assert "Traceback" not in out.message
    out = desk.edit(v.id, v.version, "Rename", value="Fine Name", who=" ", dry_run=False)
    assert not out.ok and "Curator name: required" in out.message
    out = desk.edit(v.id, v.version - 1 if v.version > 1 else v.version + 5, "Rename",
                    value="Other Name", who="alice", dry_run=False)
    assert not out.ok and "Conflict" in out.message and "press Load" in out.message
    pv = desk.load(f"product:{picks['mover']}")
    out = desk.edit(pv.id, pv.version, "Add competitor offer", competitor=picks["competitor"],
                    price=-5, currency="INR", who="alice", dry_run=False)
    assert not out.ok and "price must be greater than 0" in out.message
    out = desk.edit(pv.id, pv.version, "Add competitor offer", competitor=picks["competitor"],
                    price=10, currency="XYZ", who="alice", dry_run=False)
    assert not out.ok and "currency" in out.message and "ISO 4217" in out.message
    assert desk.load(v.id).version == v.version and len(desk.audit()) == n_audit


def test_preview_lists_the_products_that_move(desk, svc, picks):
    pid = picks["mover"]
    v = desk.load(f"product:{pid}")
    out = desk.edit(v.id, v.version, "Link category", value=picks["dear"], dry_run=True)
    assert out.ok and "Preview only" in out.message, out.message
    imp = out.impact
    assert pid in set(imp["product"])
    row = imp.set_index("product").loc[pid]
    assert row["price before"] > 0 and row["price after"] > 0
    assert row["price after"] > row["price before"]        # a dearer category raises it
    assert "cat_median" in row["features changed"]
    assert len(imp) > 1                                     # its old/new category peers too
    assert desk.load(v.id).version == v.version             # dry run: store unchanged
    assert svc.products.at[pid, "category_path"] == picks["cheap"]


def test_commit_is_audited_live_and_revertible(desk, svc, picks):
    brand = picks["brands"][3]
    old = _brand_id(brand)
    v = desk.load(old)
    out = desk.edit(v.id, v.version, "Rename", value=f"{brand} Curated", who="alice",
                    reason="typo", dry_run=False)
    assert out.ok and out.audit_id and f"audit #{out.audit_id}" in out.message, out.message
    new = _brand_id(f"{brand} Curated")
    assert out.node == new
    with Curator(svc.graph_db) as cur:
        assert cur.node(new)["name"] == f"{brand} Curated" and cur.node(old) is None
        e = cur.entry(out.audit_id)
        assert (e.actor, e.op, e.reason) == ("ui:alice", "rename_node", "typo")
    assert new in svc.graph and old not in svc.graph       # live service refreshed
    assert (svc.products["brand"] == f"{brand} Curated").sum() >= 2
    trail = desk.audit()
    assert trail.iloc[0]["id"] == out.audit_id and trail.iloc[0]["actor"] == "ui:alice"
    assert list(desk.audit(node=new)["id"]) == [out.audit_id]

    back = desk.revert(out.audit_id, who="bob", reason="keep the old name")
    assert back.ok and f"Reverted audit #{out.audit_id}" in back.message, back.message
    assert old in svc.graph and new not in svc.graph
    again = desk.revert(out.audit_id, who="bob")
    assert not again.ok and "already reverted" in again.message
    assert "Audit entry: pick" in desk.revert("", who="bob").message
    assert desk.audit().iloc[1]["reverted by"] == f"#{back.audit_id}"


def test_offer_commit_then_stale_revert_is_refused(desk, svc, picks):
    pid, comp = picks["mover"], picks["competitor"]
    v = desk.load(f"product:{pid}")
    first = desk.edit(v.id, v.version, "Add competitor offer", competitor=comp, price=111,
                      currency=picks["currency"], observed_at="2031-05-01", who="carol",
                      dry_run=False)
    assert first.ok, first.message
    v = desk.load(v.id)
    second = desk.edit(v.id, v.version, "Add competitor offer", competitor=comp, price=99,
                       currency=picks["currency"], observed_at="2031-05-01", replace=True,
                       who="carol", dry_run=False)
    assert second.ok, second.message
    edges = desk.load(v.id).edges
    assert "price=99" in " ".join(edges[edges["edge"] == "offers"]["attributes"])
    refused = desk.revert(first.audit_id, who="carol")
    assert not refused.ok and "cannot revert" in refused.message and \
        f"#{second.audit_id}" in refused.message


def test_curator_keys_gate_editing(svc):
    keyed = CurateDesk(svc, curator_keys=["sesame"])
    out = keyed.edit("brand:x", 1, "Rename", value="y", who="alice", key="wrong")
    assert not out.ok and "Curator key" in out.message
    assert "Curator key" in keyed.revert(1, who="alice", key=None).message
    off = CurateDesk(svc, curator_keys=[])
    assert not off.can_edit and "Editing is off" in off.edit("brand:x", 1, "Rename",
                                                              value="y", who="a").message


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def server(svc):
    from assistant.http.app import ApiSettings, create_app
    from assistant.web.app import mount
    from assistant.web.curate import curate_tab_for

    settings = ApiSettings(auth_disabled=True)
    app = create_app(svc, settings)
    mount(app, svc, "/ui", extra_tabs=[curate_tab_for(settings)])
    with live_server(app, "uvicorn-curate-test") as url:
        yield url


def _fill(page, elem_id: str, text: str) -> None:
    page.locator(f"#{elem_id}").locator("textarea, input").first.fill(text)


def test_browser_edit_through_the_curate_tab(server, svc, picks, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    brand, taken = picks["brands"][4], picks["brands"][5]
    new_name = f"{brand} Renamed"
    shots = Path(os.environ.get("PRICING_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    outside: list[str] = []
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = b.new_context(viewport={"width": 1280, "height": 1100}).new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.on("request", lambda r: outside.append(r.url)
                    if not r.url.startswith((server, "data:", "blob:")) else None)
            page.goto(server + "/ui/")
            page.get_by_role("tab", name="Curate").click()

            # search, pick the match: the node, its version and its picture load
            page.locator("#cur-search-type").get_by_label("brand", exact=True).check()
            _fill(page, "cur-search-text", brand.lower())
            page.locator("#cur-search-go").click()
            (page.locator("#cur-results").get_by_text(_brand_id(brand), exact=True)
             .filter(visible=True).first.click())
            page.locator("#cur-details").get_by_text(_brand_id(brand)).first.wait_for()
            page.locator("#cur-plot img").wait_for()

            # a bad edit: the Curator's refusal, in words
            page.locator("#cur-action").get_by_label("Rename", exact=True).check()
            _fill(page, "cur-who", "alice")
            _fill(page, "cur-value", taken)
            page.locator("#cur-commit").click()
            page.locator("#cur-status").get_by_text("already exists").wait_for()
            assert "Refused" in page.locator("#cur-status").inner_text()

            # a good edit: preview, then commit
            _fill(page, "cur-value", new_name)
            _fill(page, "cur-reason", "official spelling")
            page.locator("#cur-preview").click()
            page.locator("#cur-status").get_by_text("Preview only").wait_for()
            (page.locator("#cur-impact").get_by_text(picks["brand_products"][brand][0], exact=True)
             .filter(visible=True).first.wait_for())    # a product of the brand, repriced
            page.wait_for_timeout(500)                  # let the table settle for the picture
            page.screenshot(path=str(shots / "curate.png"), full_page=True)
            page.locator("#cur-commit").click()
            page.locator("#cur-status").get_by_text("Saved as audit #").wait_for()
            audit = page.locator("#cur-audit")
            for text in ("rename_node", "ui:alice", "official spelling"):
                audit.get_by_text(text, exact=True).filter(visible=True).first.wait_for()
            audit.get_by_text(f"new_name={new_name}").filter(visible=True).first.wait_for()
            page.locator("#cur-details").get_by_text(_brand_id(new_name)).first.wait_for()
        finally:
            b.close()
    assert outside == [], f"requests left the server: {outside[:5]}"
    with Curator(svc.graph_db) as cur:
        assert cur.node(_brand_id(new_name))["name"] == new_name
        assert cur.node(_brand_id(brand)) is None
        e = cur.history(limit=1)[0]
        assert (e.op, e.actor, e.reason) == ("rename_node", "ui:alice", "official spelling")
    assert _brand_id(new_name) in svc.graph
