"""data/main (the main job's data) and ``data/make_demo.py --main`` that makes it.

Run: ``pytest -q tests/test_data_main.py`` (about 10 s: one test loads all 150k products).
"""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest

from graph.adapters import DATASETS, load_path

ROOT = Path(__file__).resolve().parents[1]
MAIN = ROOT / "data" / "main"
DEMO = ROOT / "data" / "demo"
SHIPPED = MAIN / "amazon_in_2023" / "products.csv.gz"


@pytest.fixture(scope="module")
def make_demo():
    # data/ is not a package: load the script as a module
    spec = importlib.util.spec_from_file_location("make_demo", ROOT / "data" / "make_demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def provenance() -> dict:
    return json.loads((MAIN / "PROVENANCE.json").read_text())


def test_shipped_catalog_matches_its_provenance(make_demo, provenance):
    entry = provenance["datasets"]["amazon_in_2023"]
    assert entry["shipped"] == "whole file, unmodified"
    (recorded,) = entry["files"]
    digest = make_demo.sha256(SHIPPED)
    assert recorded["sha256"] == digest
    assert recorded["bytes"] == SHIPPED.stat().st_size > 7_000_000
    assert recorded["rows"] == 148_197
    # data/README.md states the same digest
    readme = (ROOT / "data" / "README.md").read_text()
    assert digest in re.findall(r"sha256 `([0-9a-f]{64})`", readme)
    assert "non-commercial" in provenance["licence"]


def test_other_data_sets_are_relative_links_to_the_demo(make_demo, provenance):
    for name in make_demo.MAIN_LINKED:
        link = MAIN / name
        assert link.is_symlink() and not Path(link.readlink()).is_absolute()
        assert link.resolve() == (DEMO / name).resolve()
        for f in provenance["datasets"][name]["files"]:
            assert f["sha256"] == make_demo.sha256(MAIN / f["file"])


def test_make_main_regenerates_the_same_folder(make_demo, tmp_path):
    # the shipped file stands in for ../shared/data (not present on a user's machine)
    source = tmp_path / "source"
    (source / "amazon_in_2023").mkdir(parents=True)
    shutil.copyfile(SHIPPED, source / make_demo.MAIN_FILE)
    demo = tmp_path / "demo"
    shutil.copytree(DEMO, demo)
    out = tmp_path / "main"
    make_demo.make_main(source, out, demo)
    assert (out / "PROVENANCE.json").read_bytes() == (MAIN / "PROVENANCE.json").read_bytes()
    assert (out / make_demo.MAIN_FILE).read_bytes() == SHIPPED.read_bytes()
    for name in make_demo.MAIN_LINKED:
        assert (out / name).readlink() == Path("..", "demo", name)
    make_demo.make_main(source, out, demo)  # again over an existing folder: same result
    assert (out / "PROVENANCE.json").read_bytes() == (MAIN / "PROVENANCE.json").read_bytes()


def test_load_path_reads_the_four_data_sets():
    steps: list[str] = []
    cat = load_path(MAIN, on_step=steps.append)
    assert steps == [f"loading {name}" for name in DATASETS] + ["merging data sets"]
    p = cat.products
    by_currency = p["currency"].value_counts().to_dict()
    assert by_currency["INR"] >= 148_197  # the whole catalog (+ sales products not in it)
    assert by_currency["GBP"] == 2_039 and by_currency["BRL"] == 52
    assert p["product_id"].is_unique
    assert len(cat.sales) == 676 and len(cat.reviews) == 1_132
