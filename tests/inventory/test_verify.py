"""``merchantry inventory verify``: levels equal the ledger, or a report and a non-zero exit."""

from __future__ import annotations

import pytest
from django.db.models import F

from merchantry.cli import main
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.inventory import reservations
from merchantry.inventory.models import StockLevel, StockMovement
from merchantry.inventory.verify import verify_ledger
from tests.inventory.factories import make_variants, stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(shop, selling, east, west):
    a, b = make_variants(shop, 2, channel=selling, sku="V")
    stock(a, east, 5)
    stock(b, west, 2)
    reservation = reservations.reserve(
        actor=SYSTEM_ACTOR, shop=shop, channel=selling, owner="c", lines=[(a.pk, 2), (b.pk, 1)]
    )
    reservations.reservation_convert(
        actor=SYSTEM_ACTOR, shop=shop, reservation_id=reservation.pk, reference="order:1"
    )
    reservations.reserve(
        actor=SYSTEM_ACTOR, shop=shop, channel=selling, owner="d", lines=[(a.pk, 1)]
    )
    return a, b


def test_a_consistent_ledger_passes(history, capsys) -> None:
    code = main(["inventory", "verify"])

    assert code == 0
    assert "OK: 2 stock level(s) match the ledger." in capsys.readouterr().out


def test_a_tampered_level_is_reported_with_a_non_zero_exit(history, east, capsys) -> None:
    a, _ = history
    StockLevel.objects.filter(variant=a, location=east).update(on_hand=F("on_hand") + 3)

    with pytest.raises(SystemExit) as exited:
        main(["inventory", "verify"])

    captured = capsys.readouterr()
    assert exited.value.code == 1
    assert "MISMATCH: 1 difference(s)" in captured.out
    assert f"variant {a.pk} location {east.pk}: on_hand level 8, ledger 5" in captured.out
    assert "stock difference(s) found" in captured.err


def test_holds_that_disagree_with_the_reserved_bucket_are_reported(history, east) -> None:
    a, _ = history
    # A reserved unit with a ledger row but no reservation line holding it.
    level = StockLevel.objects.get(variant=a, location=east)
    StockLevel.objects.filter(pk=level.pk).update(reserved=F("reserved") + 1)
    StockMovement.objects.create(
        shop=level.shop,
        variant=a,
        location=east,
        reserved_delta=1,
        reason="reserve",
        reference="forged",
    )

    _, mismatches = verify_ledger()

    assert [(m.bucket, m.source, m.level, m.expected) for m in mismatches] == [
        ("reserved", "reservations", 2, 1)
    ]


def test_the_check_can_be_limited_to_one_shop(history, other_shop, capsys) -> None:
    code = main(["inventory", "verify", "--shop", other_shop.slug])

    assert code == 0
    assert "OK: 0 stock level(s)" in capsys.readouterr().out


def test_the_ledger_is_append_only(history) -> None:
    movement = StockMovement.objects.first()

    with pytest.raises(TypeError):
        StockMovement.objects.update(note="rewritten")
    with pytest.raises(TypeError):
        movement.save()

    movement.refresh_from_db()
    assert movement.note == ""
