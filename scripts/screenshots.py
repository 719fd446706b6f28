"""The README's screenshots (docs/chat.png, docs/workspace.png, docs/curate.png and the daily
workflow's docs/workflow-*.png) from a real server and Debian's Chromium.

Run::

    make screenshots                    # ingests + trains on data/main (DATA) first when runs/ lacks them
    .venv/bin/python scripts/screenshots.py --artifact runs/model --db runs/graph.sqlite --out docs
    .venv/bin/python scripts/screenshots.py --shots workflow     # only the daily workflow's

The script serves the API + UI (Curate tab included, auth off) with uvicorn on a free loopback
port, over a COPY of the graph store and a throw-away suggestions store (nothing in runs/ is
changed), and drives Chromium (headless, /usr/bin/chromium; ``scripts/test-setup.sh`` installs
it) through Playwright: a chat with a what-if follow-up, a Workspace suggestion with its
evidence, and a Curate-tab rename preview. The daily workflow runs on a second server with
API keys (so the UI asks for a login) and a throw-away price list: a curator uploads a catalog
CSV (workflow-upload.png), applies the suggestions (workflow-apply.png), an approver approves
what waited (workflow-approve.png), and the applied price list is downloaded as CSV
(workflow-export.png). PNGs are reduced to 256 colours to stay small. Tests never write these
files: they are documentation, refreshed on purpose with this script.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 60_000


def serve(app: object):
    """``app`` on a free loopback port (uvicorn in a thread); yields its base URL."""
    from assistant.server import serve_in_thread

    return serve_in_thread(app, name="uvicorn-screenshots", start_timeout=60)


def _settle(locator, wait_ms: int = 300, limit_s: float = 15) -> None:
    """Wait until a streamed reply stops growing."""
    text, deadline = locator.inner_text(), time.monotonic() + limit_s
    while time.monotonic() < deadline:
        locator.page.wait_for_timeout(wait_ms)
        now = locator.inner_text()
        if now == text:
            return
        text = now


def shoot_chat(page, base: str, product: dict, out: Path) -> None:
    page.goto(base + "/ui/")
    bots = page.locator("#chat [data-testid='bot']")
    for text, expect in ((f"what should I charge for {product['title']}? my cost is {product['cost']}",
                          "I suggest"),
                         (f"what if I charge {product['what_if']}?", "Margin")):
        n = bots.count()
        page.locator("#chat-input textarea").fill(text)
        page.locator("#chat-send").click()
        bots.nth(n).get_by_text(expect).first.wait_for()
        _settle(bots.nth(n))
    page.screenshot(path=str(out / "chat.png"))


def shoot_workspace(page, base: str, service, out: Path) -> None:
    page.goto(base + "/ui/")
    page.get_by_role("tab", name="Workspace").click()
    page.locator("#ws-title textarea").fill("Stainless steel insulated water bottle, 1 litre")
    page.locator("#ws-brand textarea").fill("Milton")
    t = service.products
    bottles = t[t["title"].str.contains("bottle", case=False, na=False)]["category_path"].dropna()
    if len(bottles):
        cat = page.locator("#ws-category input")
        cat.click()
        cat.press_sequentially(bottles.mode().iloc[0].split(" > ")[-1][:14])
        page.locator("#ws-category").get_by_role("option").first.click()
    page.locator("#ws-cost input").fill("300")
    page.locator("#ws-current input").fill("799")
    page.locator("#ws-min-margin input").fill("25")
    page.locator("#ws-go").click()
    page.locator("#ws-card").get_by_text("I suggest").wait_for()
    page.locator("#ws-plot-comparables img").wait_for()
    page.locator("#ws-plot-competitors img").wait_for()
    page.screenshot(path=str(out / "workspace.png"), full_page=True)


def shoot_curate(page, base: str, service, out: Path) -> None:
    p = service.products
    sizes = p.groupby("brand").size()
    brand = sorted(b for b, n in sizes.items() if n >= 3 and b.isascii() and b.isalnum())[0]
    page.goto(base + "/ui/")
    page.get_by_role("tab", name="Curate").click()
    page.locator("#cur-search-type").get_by_label("brand", exact=True).check()
    page.locator("#cur-search-text").locator("textarea, input").first.fill(brand.lower())
    page.locator("#cur-search-go").click()
    node = page.locator("#cur-results").get_by_text(f"brand:{brand.lower()}", exact=True)
    node.filter(visible=True).first.click()
    page.locator("#cur-plot img").wait_for()
    page.locator("#cur-action").get_by_label("Rename", exact=True).check()
    for elem, text in (("cur-who", "alice"), ("cur-value", f"{brand} Official"),
                       ("cur-reason", "official spelling")):
        page.locator(f"#{elem}").locator("textarea, input").first.fill(text)
    page.locator("#cur-preview").click()
    page.locator("#cur-status").get_by_text("Preview only").wait_for()
    page.wait_for_timeout(500)                  # let the impact table settle for the picture
    page.screenshot(path=str(out / "curate.png"), full_page=True)


# --------------------------------------------------------------------------- daily workflow
CURATOR_KEY, APPROVER_KEY = "curator-screenshots-0123", "approver-screenshots-0123"


def workflow_catalog(service, path: Path, n_known: int = 8, n_new: int = 3) -> list[str]:
    """A small catalog CSV as a merchant would upload it: known products of one category
    with today's cost, and a few new ones; returns the product ids."""
    import csv

    t = service.products
    paths = set(t["category_path"].dropna())
    leaves = {p for p in paths if not any(q.startswith(p + " > ") for q in paths)}
    t = t[t["price"].notna() & t["category_path"].isin(leaves) & t["title"].notna()]
    leaf = t["category_path"].value_counts().index[0]
    known = t[t["category_path"] == leaf].sort_index().head(n_known)
    cur = known["currency"].mode().iloc[0]
    rows = [{"product_id": r.product_id, "title": r.title, "category_path": leaf,
             "brand": r.brand if isinstance(r.brand, str) else "", "price": r.price,
             "currency": r.currency, "cost": round(float(r.price) * 0.55, 2)}
            for r in known.itertuples()]
    base = float(known["price"].median())
    for i in range(n_new):
        ref = known.iloc[i % len(known)]
        rows.append({"product_id": f"NEW-{i + 1:03d}", "title": f"{ref['title'][:60]} (2027 edition)",
                     "category_path": leaf, "brand": ref["brand"] if isinstance(ref["brand"], str) else "",
                     "price": round(base * (1 + 0.1 * i), 2), "currency": cur,
                     "cost": round(base * 0.5, 2)})
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return [r["product_id"] for r in rows]


def pick(page, dropdown: str, option: str) -> None:
    page.locator(dropdown).locator("input").click()
    page.get_by_role("option", name=option, exact=True).click()


def sign_in(page, base: str, name: str, key: str) -> None:
    page.goto(base + "/ui/")
    page.get_by_label("username").fill(name)
    page.get_by_label("password").fill(key)
    page.get_by_role("button", name="Login").click()
    page.locator("#login-banner").get_by_text("Signed in as").wait_for()


def shoot_workflow(browser, base: str, service, out: Path, tmp: Path) -> list[str]:
    """The daily workflow in four pictures; returns the files written."""
    catalog = tmp / "catalog.csv"
    ids = workflow_catalog(service, catalog)
    written = []

    def shot(page, name: str, full: bool = False) -> None:
        page.wait_for_timeout(400)
        page.screenshot(path=str(out / name), full_page=full)
        written.append(name)

    ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    sign_in(page, base, "carl", CURATOR_KEY)
    page.get_by_role("tab", name="Catalog").click()
    page.get_by_text("Upload a catalog (products CSV)").click()
    page.locator("#cat-import input[type=file]").set_input_files(str(catalog))
    page.locator("#cat-import").get_by_text("catalog.csv").wait_for()
    pick(page, "#cat-status", "suggested")
    page.locator("#cat-import-go").click()
    page.locator("#cat-import-msg").get_by_text("added").wait_for()
    shot(page, "workflow-upload.png", full=True)
    page.locator("#cat-selection").locator("textarea, input").first.fill(", ".join(ids))
    page.locator("#cat-apply").click()
    page.locator("#cat-msg").get_by_text(ids[0]).wait_for()
    page.locator("#cat-msg").scroll_into_view_if_needed()
    shot(page, "workflow-apply.png")
    waiting = re.findall(r"approval \(#(\d+)\)", page.locator("#cat-msg").inner_text())
    ctx.close()

    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    sign_in(page, base, "ann", APPROVER_KEY)
    page.get_by_role("tab", name="Approvals").click()
    page.wait_for_timeout(1500)             # the tab's table refreshes on select
    if waiting:  # the first change the apply step sent for approval
        page.locator("#ap-id input").fill(waiting[0])
    page.locator("#ap-note").locator("textarea, input").first.fill("checked against the supplier list")
    page.locator("#ap-approve").click()
    page.locator("#ap-msg").get_by_text("Approved").wait_for()
    shot(page, "workflow-approve.png")
    page.get_by_role("tab", name="Catalog").click()
    pick(page, "#cat-status", "applied")
    page.locator("#cat-show").click()
    page.get_by_text("Spreadsheet round trip").click()
    page.locator("#cat-export").click()
    page.locator("#cat-export-file").get_by_text("suggestions.csv").wait_for()
    page.locator("#cat-export").scroll_into_view_if_needed()
    shot(page, "workflow-export.png")
    ctx.close()
    return written


def shrink(path: Path) -> None:
    """256 colours: a UI screenshot loses nothing visible and shrinks three to five times."""
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def pick_product(service) -> dict:
    """A catalog product with a price and a distinctive title of five words or more."""
    t = service.products
    t = t[t["price"].notna() & (t["title"].str.split().str.len() >= 5)]
    row = t[~t["title"].duplicated(keep=False)].sort_index().iloc[len(t) // 3]
    price = float(row["price"])
    return {"title": row["title"], "cost": round(price * 0.6), "what_if": f"{round(price * 1.1):,}"}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--artifact", type=Path, default=ROOT / "runs" / "model")
    ap.add_argument("--db", type=Path, default=ROOT / "runs" / "graph.sqlite",
                    help="the graph store (copied: the Curate preview never touches it)")
    ap.add_argument("--sales", type=Path, default=ROOT / "data" / "demo",
                    help="a catalog with a sales table, for the demand what-ifs")
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    ap.add_argument("--shots", choices=["all", "tabs", "workflow"], default="all",
                    help="tabs: chat, workspace, curate; workflow: the daily workflow's four")
    args = ap.parse_args(argv)
    if not CHROMIUM.exists():
        raise SystemExit(f"needs Debian's chromium at {CHROMIUM} (bash scripts/test-setup.sh)")

    from playwright.sync_api import sync_playwright

    from assistant.pricebook import ApprovalPolicy, PriceBook
    from assistant.server import ApiSettings, build_server
    from assistant.service import PricingService

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp:
        db = Path(tmp) / "graph.sqlite"
        shutil.copyfile(args.db, db)
        service = PricingService.from_paths(args.artifact, db, Path(tmp) / "suggestions.sqlite",
                                            llm=None, sales=args.sales)
        tabs = () if args.shots == "workflow" else (
            ("chat", (1280, 1000), lambda pg: shoot_chat(pg, base, pick_product(service), args.out)),
            ("workspace", (1280, 1000), lambda pg: shoot_workspace(pg, base, service, args.out)),
            ("curate", (1280, 1100), lambda pg: shoot_curate(pg, base, service, args.out)))
        app = build_server(service, ApiSettings(auth_disabled=True))
        with serve(app) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
            try:
                for name, size, shoot in tabs:
                    ctx = browser.new_context(viewport={"width": size[0], "height": size[1]})
                    page = ctx.new_page()
                    page.set_default_timeout(TIMEOUT_MS)
                    shoot(page)
                    ctx.close()
                    shrink(args.out / (name + ".png"))
                    print(f"wrote {args.out / (name + '.png')}")
                if args.shots != "tabs":
                    # the daily workflow: signed in (keys), with a throw-away price list
                    keys = ApiSettings(api_keys={CURATOR_KEY: "curator", APPROVER_KEY: "approver"},
                                       key_names={CURATOR_KEY: "carl", APPROVER_KEY: "ann"})
                    book = PriceBook(Path(tmp) / "pricebook.sqlite", ApprovalPolicy())
                    with serve(build_server(service, keys, pricebook=book)) as keyed:
                        for name in shoot_workflow(browser, keyed, service, args.out, Path(tmp)):
                            shrink(args.out / name)
                            print(f"wrote {args.out / name}")  # the app closed the book
            finally:
                browser.close()


if __name__ == "__main__":
    main()
