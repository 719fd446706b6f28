"""Catalog CSV upload (assistant.catalog_import) over the session's tiny model and a private
copy of its graph store: per-row validation, nothing stored from a refused file, partial
uploads, one audited revertible edit, fresh suggestions. ~10 s after `tiny_service`."""
from __future__ import annotations

import pandas as pd
import pytest

from assistant.catalog_import import import_catalog, read_catalog
from assistant.decisions_csv import FileRejected
from tests.conftest import service_on_store_copy


@pytest.fixture(scope="module")
def svc(tiny_service, tmp_path_factory):
    s = service_on_store_copy(tiny_service, tmp_path_factory.mktemp("catalog_import"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def known(svc) -> dict:
    """A priced catalog product in a leaf category, and an inner category (a parent)."""
    t = svc.products
    t = t[t["price"].notna() & t["category_path"].isin(leaves(svc))
          & t["category_path"].str.contains(" > ")].sort_index()
    row = t.iloc[0]
    return {"id": row["product_id"], "price": float(row["price"]), "title": row["title"],
            "currency": row["currency"], "leaf": row["category_path"],
            "inner": row["category_path"].rsplit(" > ", 1)[0]}


def leaves(svc) -> set[str]:
    """Category paths with no sub-category (new products may only go there)."""
    paths = set(svc.products["category_path"].dropna())
    return {p for p in paths if not any(q.startswith(p + " > ") for q in paths)}


def quoted(text: str) -> str:
    """A CSV cell (category paths may hold commas)."""
    return '"' + text.replace('"', '""') + '"'


def n_audit(svc) -> int:
    return len(svc.curation.audit(limit=10_000).entries)


def csv_of(rows: list[dict]) -> bytes:
    return pd.DataFrame(rows).to_csv(index=False).encode("utf-8")


def test_valid_file_adds_updates_suggests_and_reverts_as_one(svc, known):
    before, audits = set(svc.products.index), n_audit(svc)
    data = csv_of([
        {"product_id": "UP-1", "title": "Insulated steel bottle 1 litre", "category_path": known["leaf"],
         "brand": "Upload Brand", "price": 499, "currency": known["currency"], "cost": 250,
         "colour": "blue"},
        {"product_id": "UP-2", "title": "Insulated steel bottle 500 ml", "category_path": known["leaf"],
         "brand": "Upload Brand", "price": 349, "currency": known["currency"], "cost": None,
         "colour": None},
        {"product_id": known["id"], "title": known["title"], "category_path": None, "brand": None,
         "price": round(known["price"] * 1.1, 2), "currency": known["currency"], "cost": None,
         "colour": None},
    ])
    r = import_catalog(data, svc, actor="curator:carl")
    assert r.stored and r.errors == [] and r.rows == 3
    assert sorted(r.added) == ["UP-1", "UP-2"] and r.updated == [known["id"]]
    assert r.ignored == ["colour"] and r.suggested == 3
    assert n_audit(svc) == audits + 1                      # one audit entry for the file
    entry = svc.curation.audit(limit=1).entries[0]
    assert entry.id == r.audit_id and entry.actor == "curator:carl"
    # the live service follows: new products are priced, the known one has its new price
    assert svc.products.loc["UP-1", "brand"] == "Upload Brand"
    assert svc.products.loc[known["id"], "price"] == pytest.approx(known["price"] * 1.1, abs=0.01)
    assert all(svc.store.latest_for(p) is not None for p in ("UP-1", "UP-2", known["id"]))
    svc.curation.revert(r.audit_id, actor="curator:carl", reason="wrong file")
    assert set(svc.products.index) == before
    assert svc.products.loc[known["id"], "price"] == known["price"]


def test_refused_rows_are_listed_and_nothing_is_stored(svc, known):
    before, audits = set(svc.products.index), n_audit(svc)
    text = ("product_id,title,price,currency,cost,rating\n"
            "OK-1,Good row,10,INR,5,4\n"                    # row 2: fine
            "BAD-1,Bad price,abc,INR,,\n"                   # row 3
            "BAD-2,,10,INR,,\n"                             # row 4: no title
            "BAD-3,Bad currency,10,EURO,,\n"                # row 5
            "BAD-4,Bad rating,10,INR,,7\n"                  # row 6
            "OK-1,Same id again,11,INR,,\n")                # row 7: duplicate id
    r = import_catalog(text, svc, actor="curator:carl")
    assert not r.stored and r.audit_id is None
    assert [(e.row, e.field) for e in r.errors] == [(3, "price"), (4, "title"), (5, "currency"),
                                                    (6, "rating"), (7, "product_id")]
    assert "abc" in r.errors[0].reason and "row 2" in r.errors[4].reason
    assert set(svc.products.index) == before and n_audit(svc) == audits
    assert "5 of 6 row(s) refused; nothing stored" == r.summary()
    # partial: the valid row goes through, the refused ones are still listed
    r = import_catalog(text, svc, actor="curator:carl", partial=True, suggest=False)
    assert r.stored and r.added == ["OK-1"] and len(r.errors) == 5 and r.suggested == 0
    svc.curation.revert(r.audit_id, actor="curator:carl")


def test_curation_rules_refuse_rows_with_their_spreadsheet_row(svc, known):
    audits = n_audit(svc)
    text = ("product_id,title,category_path,price\n"
            f"CR-1,Fine,{quoted(known['leaf'])},10\n"
            f"CR-2,In an inner category,{quoted(known['inner'])},10\n")
    r = import_catalog(text, svc, actor="curator:carl")
    assert not r.stored and [(e.row, e.field) for e in r.errors] == [(3, "category_path")]
    assert n_audit(svc) == audits and "CR-1" not in svc.products.index
    r = import_catalog(text, svc, actor="curator:carl", partial=True, suggest=False)
    assert r.stored and r.added == ["CR-1"] and [e.row for e in r.errors] == [3]
    svc.curation.revert(r.audit_id, actor="curator:carl")


@pytest.mark.parametrize("data, field, match", [
    (b"\xff\xfeproduct_id,title\n", "file", "not UTF-8"),
    (b"   \n", "file", "empty"),
    (b"product_id,name\nP1,x\n", "header", "missing column.*title"),
    (b"product_id,title,Title\nP1,x,y\n", "header", "repeated column.*title"),
    (b"product_id,title\n", "file", "no rows"),
])
def test_unreadable_files_are_rejected_whole(data, field, match):
    with pytest.raises(FileRejected, match=match) as info:
        read_catalog(data)
    assert info.value.field == field
