"""Stock corrections, locations and channel settings: through the services, into the ledger."""

from __future__ import annotations

from typing import Any

import pytest

from merchantry.catalog import services as catalog
from merchantry.catalog.models import ProductChannelListing
from merchantry.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from merchantry.core.models import OutboxEvent
from merchantry.inventory import reservations, services
from merchantry.inventory.errors import InsufficientStock
from merchantry.inventory.models import (
    ChannelLocation,
    IdempotencyRecord,
    StockLevel,
    StockLocation,
    StockMovement,
)
from merchantry.inventory.verify import verify_ledger
from merchantry.tenancy.permissions import Perm
from tests.inventory.factories import make_location, make_variants, sell_from, stock

pytestmark = pytest.mark.django_db


def _rows() -> dict[str, int]:
    """How many rows every stock table has: a refused call must leave them as they were."""
    return {
        "levels": StockLevel.objects.count(),
        "movements": StockMovement.objects.count(),
        "locations": StockLocation.objects.count(),
        "idempotency": IdempotencyRecord.objects.count(),
    }


def _buckets(level: StockLevel) -> tuple[int, int, int]:
    level.refresh_from_db()
    return level.on_hand, level.reserved, level.allocated


def _assert_balanced() -> None:
    checked, mismatches = verify_ledger()
    assert mismatches == []
    assert checked > 0


# -- receive, adjust, count ---------------------------------------------------------------


def test_receiving_creates_the_level_and_one_ledger_row(shop, east, actor) -> None:
    [variant] = make_variants(shop)

    level = services.stock_receive(
        actor=actor,
        shop=shop,
        variant_id=variant.pk,
        location_id=east.pk,
        quantity=12,
        reference="po:7",
        note="spring delivery",
    )

    assert _buckets(level) == (12, 0, 0)
    [row] = StockMovement.objects.all()
    assert (row.reason, row.on_hand_delta, row.reserved_delta, row.allocated_delta) == (
        "receive",
        12,
        0,
        0,
    )
    assert (row.actor, row.reference, row.note) == ("system", "po:7", "spring delivery")
    _assert_balanced()


def test_an_adjustment_cannot_take_more_than_is_on_hand(shop, east, actor) -> None:
    [variant] = make_variants(shop)
    level = stock(variant, east, 3)
    before = _rows()

    with pytest.raises(Conflict) as caught:
        services.stock_adjust(
            actor=actor, shop=shop, variant_id=variant.pk, location_id=east.pk, delta=-4
        )

    assert caught.value.code == "insufficient_on_hand"
    assert _buckets(level) == (3, 0, 0)
    assert _rows() == before


def test_a_loss_below_what_is_promised_is_recorded_as_it_is(shop, selling, east, actor) -> None:
    # given 5 on hand, 4 of them reserved by a checkout
    [variant] = make_variants(shop, channel=selling)
    level = stock(variant, east, 5)
    reservations.reserve(
        actor=actor, shop=shop, channel=selling, owner="checkout-1", lines=[(variant.pk, 4)]
    )

    # when 3 turn out to be damaged
    services.stock_adjust(
        actor=actor, shop=shop, variant_id=variant.pk, location_id=east.pk, delta=-3, note="wet"
    )

    # then reality is recorded: 2 on hand, 4 promised, available -2, and no one else can buy
    assert _buckets(level) == (2, 4, 0)
    assert level.available == -2
    assert level.available_floor == -2
    with pytest.raises(InsufficientStock):
        reservations.reserve(
            actor=actor, shop=shop, channel=selling, owner="checkout-2", lines=[(variant.pk, 1)]
        )
    _assert_balanced()


def test_a_count_records_the_difference(shop, east, actor) -> None:
    [variant] = make_variants(shop)
    stock(variant, east, 10)

    level = services.stock_set(
        actor=actor, shop=shop, variant_id=variant.pk, location_id=east.pk, on_hand=7
    )

    assert _buckets(level) == (7, 0, 0)
    latest = StockMovement.objects.order_by("-pk").first()
    assert (latest.reason, latest.on_hand_delta) == ("count", -3)
    _assert_balanced()


def test_a_count_that_matches_writes_no_movement(shop, east, actor) -> None:
    [variant] = make_variants(shop)
    stock(variant, east, 4)

    services.stock_set(
        actor=actor, shop=shop, variant_id=variant.pk, location_id=east.pk, on_hand=4
    )

    assert StockMovement.objects.count() == 1


@pytest.mark.parametrize(
    ("_case", "call", "field"),
    [
        ("negative receipt", {"fn": "stock_receive", "quantity": -1}, "quantity"),
        ("zero receipt", {"fn": "stock_receive", "quantity": 0}, "quantity"),
        ("fractional receipt", {"fn": "stock_receive", "quantity": 1.5}, "quantity"),
        ("receipt as text", {"fn": "stock_receive", "quantity": "3"}, "quantity"),
        ("receipt as a boolean", {"fn": "stock_receive", "quantity": True}, "quantity"),
        ("huge receipt", {"fn": "stock_receive", "quantity": 10**12}, "quantity"),
        ("zero adjustment", {"fn": "stock_adjust", "delta": 0}, "delta"),
        ("fractional adjustment", {"fn": "stock_adjust", "delta": -0.5}, "delta"),
        ("negative count", {"fn": "stock_set", "on_hand": -1}, "on_hand"),
        ("fractional count", {"fn": "stock_set", "on_hand": 2.5}, "on_hand"),
    ],
)
def test_bad_quantities_are_refused_and_write_nothing(
    shop, east, actor, _case: str, call: dict[str, Any], field: str
) -> None:
    [variant] = make_variants(shop)
    stock(variant, east, 5)
    before = _rows()
    arguments = dict(call)
    function = getattr(services, arguments.pop("fn"))

    with pytest.raises(ValidationFailed) as caught:
        function(actor=actor, shop=shop, variant_id=variant.pk, location_id=east.pk, **arguments)

    assert [e.loc for e in caught.value.errors] == [(field,)]
    assert _rows() == before


def test_another_shops_variant_or_location_is_not_found(shop, other_shop, east, actor) -> None:
    [mine] = make_variants(shop)
    [theirs] = make_variants(other_shop)
    their_location = make_location(other_shop, name="Theirs")
    before = _rows()

    with pytest.raises(NotFound):
        services.stock_receive(
            actor=actor, shop=shop, variant_id=theirs.pk, location_id=east.pk, quantity=1
        )
    with pytest.raises(NotFound):
        services.stock_receive(
            actor=actor, shop=shop, variant_id=mine.pk, location_id=their_location.pk, quantity=1
        )
    with pytest.raises(NotFound):
        services.stock_receive(
            actor=actor, shop=shop, variant_id=mine.pk, location_id=999_999, quantity=1
        )

    assert _rows() == before


def test_stock_changes_need_inventory_manage(shop, east) -> None:
    from merchantry.core.actors import Actor

    viewer = Actor(kind="user", key="user:1", shop_id=shop.pk, permissions={Perm.INVENTORY_VIEW})
    [variant] = make_variants(shop)

    with pytest.raises(PermissionDenied):
        services.stock_receive(
            actor=viewer, shop=shop, variant_id=variant.pk, location_id=east.pk, quantity=1
        )

    assert not StockMovement.objects.exists()


# -- transfers ----------------------------------------------------------------------------


def test_a_transfer_moves_available_units_and_records_both_ends(shop, east, west, actor) -> None:
    [variant] = make_variants(shop)
    stock(variant, east, 8)

    source, target = services.stock_transfer(
        actor=actor,
        shop=shop,
        variant_id=variant.pk,
        from_location_id=east.pk,
        to_location_id=west.pk,
        quantity=5,
    )

    assert _buckets(source) == (3, 0, 0)
    assert _buckets(target) == (5, 0, 0)
    out, into = StockMovement.objects.filter(reason="transfer").order_by("pk")
    assert (out.on_hand_delta, into.on_hand_delta) == (-5, 5)
    assert out.reference == into.reference
    assert out.reference.startswith("transfer:")
    _assert_balanced()


def test_reserved_units_cannot_be_transferred(shop, selling, east, west, actor) -> None:
    [variant] = make_variants(shop, channel=selling)
    level = stock(variant, east, 4)
    reservations.reserve(
        actor=actor, shop=shop, channel=selling, owner="c", lines=[(variant.pk, 3)]
    )
    before = _rows()

    with pytest.raises(InsufficientStock) as caught:
        services.stock_transfer(
            actor=actor,
            shop=shop,
            variant_id=variant.pk,
            from_location_id=east.pk,
            to_location_id=west.pk,
            quantity=2,
        )

    assert caught.value.code == "insufficient_stock"
    assert caught.value.status == 409
    assert _buckets(level) == (4, 3, 0)
    assert _rows() == before


@pytest.mark.parametrize(
    ("_case", "target", "code"),
    [
        ("the same location", "same", "same_location"),
        ("an unknown location", 999_999, "not_found"),
        ("another shop's location", "theirs", "not_found"),
        ("not an id", "east", "not_found"),
    ],
)
def test_a_transfer_to_a_bad_destination_is_refused(
    shop, other_shop, east, actor, _case: str, target: Any, code: str
) -> None:
    [variant] = make_variants(shop)
    stock(variant, east, 4)
    destinations = {"same": east.pk, "theirs": make_location(other_shop).pk}
    before = _rows()

    with pytest.raises(ValidationFailed) as caught:
        services.stock_transfer(
            actor=actor,
            shop=shop,
            variant_id=variant.pk,
            from_location_id=east.pk,
            to_location_id=destinations.get(target, target),
            quantity=1,
        )

    [error] = caught.value.errors
    assert (error.loc, error.code) == (("to_location_id",), code)
    assert _rows() == before


# -- bulk counts by SKU ----------------------------------------------------------------------


def test_bulk_set_counts_by_sku_all_or_nothing(shop, east, actor) -> None:
    first, _ = make_variants(shop, 2, sku="BULK")
    stock(first, east, 1)
    before = _rows()

    with pytest.raises(ValidationFailed) as caught:
        services.stock_bulk_set(
            actor=actor,
            shop=shop,
            location_id=east.pk,
            items=[{"sku": "BULK-0", "on_hand": 5}, {"sku": "NOPE", "on_hand": 2}],
        )
    assert [e.loc for e in caught.value.errors] == [("items", 1, "sku")]
    assert _rows() == before

    levels = services.stock_bulk_set(
        actor=actor,
        shop=shop,
        location_id=east.pk,
        items=[{"sku": "BULK-0", "on_hand": 5}, {"sku": "BULK-1", "on_hand": 2}],
        reference="erp:42",
    )

    assert [_buckets(level)[0] for level in levels] == [5, 2]
    counts = StockMovement.objects.filter(reason="count")
    assert set(counts.values_list("reference", flat=True)) == {"erp:42"}
    _assert_balanced()


def test_bulk_set_ignores_another_shops_skus(shop, other_shop, east, actor) -> None:
    make_variants(other_shop, sku="THEIRS")

    with pytest.raises(ValidationFailed):
        services.stock_bulk_set(
            actor=actor, shop=shop, location_id=east.pk, items=[{"sku": "THEIRS-0", "on_hand": 1}]
        )

    assert not StockLevel.objects.exists()


# -- locations and channels ----------------------------------------------------------------


def test_a_location_gets_a_handle_and_the_shops_country(shop, actor) -> None:
    first = services.location_create(actor=actor, shop=shop, name="Main Warehouse")
    second = services.location_create(actor=actor, shop=shop, name="Main Warehouse")

    assert (first.handle, first.country) == ("main-warehouse", "US")
    assert second.handle == "main-warehouse-2"


def test_a_duplicate_handle_is_a_field_error(shop, east, actor) -> None:
    with pytest.raises(ValidationFailed) as caught:
        services.location_create(actor=actor, shop=shop, name="Again", handle="east")

    assert caught.value.errors[0].loc == ("handle",)


def test_a_location_with_history_cannot_be_deleted(shop, east, west, actor) -> None:
    [variant] = make_variants(shop)
    stock(variant, east, 1)

    with pytest.raises(Conflict) as caught:
        services.location_delete(actor=actor, shop=shop, location_id=east.pk)
    services.location_delete(actor=actor, shop=shop, location_id=west.pk)

    assert caught.value.code == "location_in_use"
    assert list(StockLocation.objects.values_list("handle", flat=True)) == ["east"]


def test_channel_locations_keep_their_order_and_refuse_strangers(
    shop, other_shop, channel, east, west, actor
) -> None:
    theirs = make_location(other_shop)

    settings, ids = services.channel_locations_set(
        actor=actor,
        shop=shop,
        channel_id=channel.pk,
        location_ids=[west.pk, east.pk],
        allocation_strategy="most_stock",
        show_quantity=True,
    )
    with pytest.raises(ValidationFailed) as caught:
        services.channel_locations_set(
            actor=actor, shop=shop, channel_id=channel.pk, location_ids=[east.pk, theirs.pk]
        )

    assert ids == [west.pk, east.pk]
    assert (settings.allocation_strategy, settings.show_quantity) == ("most_stock", True)
    assert caught.value.errors[0].loc == ("location_ids", 1)
    assert list(
        ChannelLocation.objects.filter(channel=channel)
        .order_by("position")
        .values_list("location_id", flat=True)
    ) == [west.pk, east.pk]


# -- low stock and in_stock --------------------------------------------------------------------


def _low_stock_events() -> list[dict[str, Any]]:
    return list(
        OutboxEvent.objects.filter(type="inventory.low_stock")
        .order_by("pk")
        .values_list("payload", flat=True)
    )


def test_low_stock_is_raised_once_when_crossed_and_again_after_a_restock(
    shop, selling, east, actor
) -> None:
    [variant] = make_variants(shop, channel=selling, sku="LOW")
    stock(variant, east, 10)
    services.level_settings_update(
        actor=actor, shop=shop, variant_id=variant.pk, location_id=east.pk, low_stock_threshold=3
    )

    for owner in ("a", "b", "c", "d"):
        reservations.reserve(
            actor=actor, shop=shop, channel=selling, owner=owner, lines=[(variant.pk, 2)]
        )
    events_after_falling = _low_stock_events()
    stock(variant, east, 10)
    reservations.reserve(
        actor=actor, shop=shop, channel=selling, owner="e", lines=[(variant.pk, 9)]
    )

    # 10 -> 8 -> 6 -> 4 -> 2 (crossed once), then 12 (re-armed), then 3 (crossed again)
    assert [(e["sku"], e["available"], e["threshold"]) for e in events_after_falling] == [
        ("LOW-0", 2, 3)
    ]
    assert [e["available"] for e in _low_stock_events()] == [2, 3]


def _in_stock(variant) -> bool:
    return ProductChannelListing.objects.get(product_id=variant.product_id).in_stock


def test_in_stock_follows_availability_on_the_channel(shop, selling, east, actor) -> None:
    a, b = make_variants(shop, 2, channel=selling)
    services.stock_set(actor=actor, shop=shop, variant_id=a.pk, location_id=east.pk, on_hand=0)
    assert _in_stock(a) is False

    stock(b, east, 1)
    assert _in_stock(a) is True

    reservation = reservations.reserve(
        actor=actor, shop=shop, channel=selling, owner="x", lines=[(b.pk, 1)]
    )
    assert _in_stock(a) is False

    reservations.reservation_release(actor=actor, shop=shop, reservation_id=reservation.pk)
    assert _in_stock(a) is True


def test_in_stock_ignores_locations_the_channel_does_not_sell_from(
    shop, channel, east, west, actor
) -> None:
    sell_from(channel, east)
    [variant] = make_variants(shop, channel=channel)
    services.stock_set(
        actor=actor, shop=shop, variant_id=variant.pk, location_id=east.pk, on_hand=0
    )

    stock(variant, west, 5)
    assert _in_stock(variant) is False

    sell_from(channel, east, west)
    assert _in_stock(variant) is True


def test_in_stock_follows_catalog_changes_through_the_event(
    shop, selling, east, actor, django_capture_on_commit_callbacks
) -> None:
    [variant] = make_variants(shop, channel=selling)
    services.stock_set(
        actor=actor, shop=shop, variant_id=variant.pk, location_id=east.pk, on_hand=0
    )
    assert _in_stock(variant) is False

    with django_capture_on_commit_callbacks(execute=True):
        catalog.variant_update(
            actor=actor, shop=shop, variant_id=variant.pk, changes={"track_inventory": False}
        )

    assert _in_stock(variant) is True
