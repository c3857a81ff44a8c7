"""Deleting a variant: refused while its stock is committed, else written off; history stays."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import RestrictedError, Sum
from django.test import Client

from merchantry.catalog import services as catalog
from merchantry.catalog.bulk import products_upsert
from merchantry.catalog.models import Product, ProductVariant
from merchantry.cli import main
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.core.models import AuditEvent
from merchantry.inventory import allocations, reservations
from merchantry.inventory.errors import VariantHasStockCommitments
from merchantry.inventory.models import (
    Reservation,
    ReservationLine,
    StockLevel,
    StockLocation,
    StockMovement,
)
from merchantry.inventory.verify import verify_ledger
from merchantry.tenancy.models import Shop
from tests.inventory.factories import make_location, make_variants, sell_from, stock
from tests.inventory.test_concurrency import OK, _race

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def _send(client: Client, method: str, path: str, body: Any = None):
    return client.generic(
        method,
        f"/api/v1/admin{path}",
        json.dumps(body) if body is not None else "",
        content_type="application/json",
    )


def _reserve(shop, channel, owner: str, *lines: tuple[int, int]) -> Reservation:
    return reservations.reserve(
        actor=SYSTEM_ACTOR, shop=shop, channel=channel, owner=owner, lines=list(lines)
    )


def _snapshot() -> tuple[Any, ...]:
    """Everything a refused deletion must leave as it was."""
    return (
        list(ProductVariant.objects.order_by("pk").values_list("pk", "sku")),
        list(
            StockLevel.objects.order_by("pk").values_list(
                "pk", "variant_id", "on_hand", "reserved", "allocated"
            )
        ),
        list(StockMovement.objects.order_by("pk").values_list("pk", "variant_id", "sku")),
        ReservationLine.objects.count(),
        AuditEvent.objects.count(),
    )


# -- the ledger is append-only ------------------------------------------------------------------


def test_ledger_rows_cannot_be_deleted(shop, east) -> None:
    [variant] = make_variants(shop, sku="TEE")
    stock(variant, east, 3)
    movement = StockMovement.objects.get()

    with pytest.raises(TypeError, match="append-only"):
        StockMovement.objects.all().delete()
    with pytest.raises(TypeError, match="append-only"):
        StockMovement.objects.filter(pk=movement.pk).delete()
    with pytest.raises(TypeError, match="append-only"):
        movement.delete()

    assert StockMovement.objects.filter(pk=movement.pk).exists()


def test_every_ledger_row_carries_the_sku_it_moved(shop, east) -> None:
    [variant] = make_variants(shop, sku="TEE")

    stock(variant, east, 3)
    # A row written without the batch (a fix-up, a test) gets it too.
    forged = StockMovement.objects.create(
        shop=shop, variant=variant, location=east, on_hand_delta=0, reason="adjust"
    )

    assert StockMovement.objects.get(reason="receive").sku == "TEE-0"
    assert forged.sku == "TEE-0"


def test_a_location_with_history_cannot_be_deleted_from_under_the_ledger(shop, east) -> None:
    [variant] = make_variants(shop, sku="TEE")
    stock(variant, east, 3)

    with pytest.raises(RestrictedError):
        StockLocation.objects.get(pk=east.pk).delete()

    assert StockLocation.objects.filter(pk=east.pk).exists()


# -- deleting a variant with stock on hand only --------------------------------------------------


def test_deleting_a_stocked_variant_writes_it_off_and_keeps_its_history(
    shop, selling, east, west, admin_client, capsys
) -> None:
    gone, kept = make_variants(shop, 2, channel=selling, sku="TEE")
    stock(gone, east, 5)
    stock(gone, west, 3)
    stock(kept, east, 2)
    # A checkout that came and went: its finished line goes with the level.
    released = _reserve(shop, selling, "cart-1", (gone.pk, 2))
    reservations.reservation_release(actor=SYSTEM_ACTOR, shop=shop, reservation_id=released.pk)
    history = StockMovement.objects.filter(variant=gone).count()

    response = _send(admin_client, "DELETE", f"/variants/{gone.pk}")

    assert response.status_code == 204, response.content
    assert not ProductVariant.objects.filter(pk=gone.pk).exists()
    assert not StockLevel.objects.filter(variant_id=gone.pk).exists()
    rows = StockMovement.objects.filter(sku="TEE-0")
    assert rows.count() == history + 2
    assert set(rows.values_list("variant_id", flat=True)) == {None}
    closing = rows.filter(reason="delete").order_by("location__name")
    assert [(c.location_id, c.on_hand_delta, c.reference) for c in closing] == [
        (east.pk, -5, f"variant:{gone.pk}"),
        (west.pk, -3, f"variant:{gone.pk}"),
    ]
    assert all(c.actor.startswith("apikey:") for c in closing)
    sums = rows.values("location_id").annotate(
        on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta")
    )
    assert {(s["location_id"], s["on_hand"], s["reserved"]) for s in sums} == {
        (east.pk, 0, 0),
        (west.pk, 0, 0),
    }
    assert StockMovement.objects.filter(variant=kept).count() == 1
    assert verify_ledger() == (1, [])
    assert main(["inventory", "verify"]) == 0
    assert "OK: 1 stock level(s) match the ledger." in capsys.readouterr().out


def test_the_ledger_of_a_deleted_variant_is_found_by_sku(shop, east, admin_client) -> None:
    gone, _ = make_variants(shop, 2, sku="TEE")
    stock(gone, east, 4)
    _send(admin_client, "DELETE", f"/variants/{gone.pk}")

    response = admin_client.get("/api/v1/admin/inventory/movements", {"sku": "TEE-0"})

    assert response.status_code == 200, response.content
    assert [(i["reason"], i["variant_id"], i["sku"]) for i in response.json()["items"]] == [
        ("delete", None, "TEE-0"),
        ("receive", None, "TEE-0"),
    ]


def test_deleting_a_product_writes_off_every_variant(shop, east, west) -> None:
    a, b = make_variants(shop, 2, sku="TEE")
    stock(a, east, 5)
    stock(b, west, 1)

    Product.objects.get(pk=a.product_id).delete()

    assert not StockLevel.objects.exists()
    assert sorted(StockMovement.objects.filter(reason="delete").values_list("sku", flat=True)) == [
        "TEE-0",
        "TEE-1",
    ]
    assert verify_ledger() == (0, [])


def test_a_variant_without_stock_is_deleted_without_ledger_rows(shop, east) -> None:
    gone, _ = make_variants(shop, 2, sku="TEE")

    gone.delete()

    assert not StockMovement.objects.exists()


def test_verify_checks_the_rows_of_deleted_variants_per_location(shop, east) -> None:
    gone, _ = make_variants(shop, 2, sku="TEE")
    stock(gone, east, 5)
    gone.delete()
    # A row of a deleted variant that does not balance.
    StockMovement.objects.create(
        shop=shop, location=east, on_hand_delta=2, reason="adjust", sku="TEE-0"
    )

    _, mismatches = verify_ledger()

    assert [(m.variant_id, m.location_id, m.bucket, m.level, m.expected) for m in mismatches] == [
        (None, east.pk, "on_hand", None, 2)
    ]
    assert str(mismatches[0]) == (
        f"shop {shop.pk} deleted variants location {east.pk}: on_hand no level, ledger 2"
    )


# -- refused while checkouts or orders hold the stock --------------------------------------------


@pytest.mark.parametrize("_case", ["reserved", "allocated"])
def test_a_variant_with_committed_stock_cannot_be_deleted(
    _case, shop, selling, east, west, admin_client
) -> None:
    # given
    held, _ = make_variants(shop, 2, channel=selling, sku="TEE")
    stock(held, east, 1)
    stock(held, west, 5)
    reservation = _reserve(shop, selling, "cart-1", (held.pk, 3))
    if _case == "allocated":
        reservations.reservation_convert(
            actor=SYSTEM_ACTOR, shop=shop, reservation_id=reservation.pk, reference="order:1"
        )
    before = _snapshot()

    # when
    response = _send(admin_client, "DELETE", f"/variants/{held.pk}")

    # then
    assert response.status_code == 409
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == "variant_has_stock_commitments"
    what = "held by checkouts" if _case == "reserved" else "promised to orders"
    assert body["detail"].startswith(
        f"SKU TEE-0 cannot be deleted: 1 {what} at East; 2 {what} at West."
    )
    assert "Archive the product instead" in body["detail"]
    assert [e["loc"] for e in body["errors"]] == [
        ["locations", str(east.pk)],
        ["locations", str(west.pk)],
    ]
    assert _snapshot() == before
    assert verify_ledger()[1] == []


def test_regenerating_variants_cannot_drop_one_with_committed_stock(
    shop, selling, east, admin_client
) -> None:
    small, large = make_variants(shop, 2, channel=selling, sku="TEE")  # Size S0, S1
    stock(large, east, 4)
    _reserve(shop, selling, "cart-1", (large.pk, 1))
    product = f"/products/{small.product_id}"
    _send(
        admin_client, "PUT", f"{product}/options", {"options": [{"name": "Size", "values": ["S0"]}]}
    )
    before = _snapshot()

    response = _send(admin_client, "POST", f"{product}/variants/generate", {})

    assert response.status_code == 409
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "variant_has_stock_commitments"
    assert _snapshot() == before


def test_deleting_a_product_with_committed_stock_is_refused(shop, selling, east) -> None:
    a, b = make_variants(shop, 2, channel=selling, sku="TEE")
    stock(a, east, 4)
    stock(b, east, 4)
    _reserve(shop, selling, "cart-1", (b.pk, 1))
    before = _snapshot()

    product = Product.objects.get(pk=a.product_id)
    with pytest.raises(VariantHasStockCommitments) as refused, transaction.atomic():
        product.delete()

    assert refused.value.variant_id == b.pk
    assert _snapshot() == before
    assert Product.objects.filter(pk=a.product_id).exists()


def test_a_bulk_upsert_dropping_a_held_variant_reports_that_item_only(
    shop, channel, east, west
) -> None:
    def item(handle: str, *skus: str) -> dict[str, Any]:
        return {
            "handle": handle,
            "title": handle,
            "variants": [{"sku": sku, "option_values": {"Size": sku}} for sku in skus],
        }

    products_upsert(actor=SYSTEM_ACTOR, shop=shop, items=[item("tee", "S", "M"), item("cap", "A")])
    sell_from(channel, east)
    m = ProductVariant.objects.get(sku="M")
    stock(m, east, 2)
    allocations.stock_allocate(
        actor=SYSTEM_ACTOR, shop=shop, channel=channel, reference="order:7", lines=[(m.pk, 1)]
    )

    batch = products_upsert(
        actor=SYSTEM_ACTOR, shop=shop, items=[item("tee", "S"), item("cap", "A", "B")]
    )

    assert [r.status for r in batch.results] == ["error", "updated"]
    assert [e.code for e in batch.results[0].errors] == ["variant_has_stock_commitments"]
    assert ProductVariant.objects.filter(sku="M").exists()
    assert ProductVariant.objects.filter(sku="B").exists()
    assert verify_ledger()[1] == []


# -- a shop deleted wholesale --------------------------------------------------------------------


def test_deleting_a_shop_takes_its_stock_and_ledger_along(shop, other_shop, selling, east) -> None:
    [variant] = make_variants(shop, channel=selling, sku="TEE")
    stock(variant, east, 3)
    _reserve(shop, selling, "cart-1", (variant.pk, 1))
    [theirs] = make_variants(other_shop, sku="GLOBEX")
    stock(theirs, make_location(other_shop), 2)

    Shop.objects.get(pk=shop.pk).delete()

    assert not StockLevel.objects.filter(shop_id=shop.pk).exists()
    assert not StockMovement.objects.filter(shop_id=shop.pk).exists()
    assert StockMovement.objects.filter(shop=other_shop).count() == 1
    assert verify_ledger() == (1, [])


# -- a deletion racing checkouts -----------------------------------------------------------------


def _delete_while_buying(shop, channel, *, buyers: int) -> None:
    # given a variant with 3 units, and buyers of one each
    location = make_location(shop, name="Hot")
    sell_from(channel, location)
    hot, _ = make_variants(shop, 2, channel=channel, sku="HOT")
    stock(hot, location, 3)

    def buyer(index: int) -> Callable[[], Any]:
        return lambda: _reserve(shop, channel, f"buyer-{index}", (hot.pk, 1))

    def deleter() -> None:
        catalog.variant_delete(actor=SYSTEM_ACTOR, shop=shop, variant_id=hot.pk)

    # when the variant is deleted while they all reserve
    *bought, deleted = _race([*(buyer(i) for i in range(buyers)), deleter])

    # then either the deletion saw no hold and every later buyer was told the
    # variant is gone, or it saw one and was refused; never both, no raw error
    sold = bought.count(OK)
    assert set(bought) <= {OK, "insufficient_stock", "NotFound:not_found"}, bought
    if deleted == OK:
        assert sold == 0
        assert not StockLevel.objects.filter(variant_id=hot.pk).exists()
        assert StockMovement.objects.filter(sku="HOT-0", reason="delete").count() == 1
    else:
        assert deleted == "VariantHasStockCommitments:variant_has_stock_commitments", deleted
        assert 1 <= sold <= 3
        assert StockLevel.objects.get(variant_id=hot.pk).reserved == sold
    assert verify_ledger()[1] == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_pg_a_variant_deleted_while_buyers_reserve_it(shop, channel) -> None:
    _delete_while_buying(shop, channel, buyers=8)


@pytest.mark.django_db(transaction=True)
def test_sqlite_a_variant_deleted_while_buyers_reserve_it(shop, channel) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite variant; PostgreSQL runs the postgres-marked one")
    _delete_while_buying(shop, channel, buyers=6)
