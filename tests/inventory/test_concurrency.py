"""
Races, with real threads on separate database connections, released together
by a barrier.

On PostgreSQL (``postgres`` marker) the rows are locked in one order and the
takes are guarded UPDATEs: of M buyers for N < M units exactly N get one, the
rest a clear ``insufficient_stock``, and mixed carts sharing variants in
different orders never deadlock. On SQLite the same scenarios run with
writers queuing on the busy timeout (``BEGIN IMMEDIATE``): same invariants,
and no "database is locked" reaches a buyer.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection, connections

from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.core.errors import MerchantryError
from merchantry.inventory import allocations, reservations
from merchantry.inventory.errors import InsufficientStock
from merchantry.inventory.models import Reservation, StockLevel, StockMovement
from merchantry.inventory.verify import verify_ledger
from tests.inventory.factories import make_location, make_variants, sell_from, stock

OK = "ok"


@pytest.fixture
def sqlite_only() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite variant; PostgreSQL runs the postgres-marked ones")


def _race(jobs: Sequence[Callable[[], Any]]) -> list[str]:
    """Run ``jobs`` at once, each in its own thread and connection; return their outcomes."""
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[], Any]) -> str:
        try:
            barrier.wait(timeout=30)
            job()
            return OK
        except InsufficientStock as exc:
            return exc.code
        except MerchantryError as exc:
            return f"{type(exc).__name__}:{exc.code}"
        except Exception as exc:  # a deadlock, "database is locked": the test fails on it
            return f"{type(exc).__name__}: {exc}"
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs))


def _reserver(shop, channel, owner: str, lines: list[tuple[int, int]]) -> Callable[[], Any]:
    def job() -> Any:
        return reservations.reserve(
            actor=SYSTEM_ACTOR, shop=shop, channel=channel, owner=owner, lines=lines
        )

    return job


def _assert_sound() -> None:
    """Nothing negative, nothing oversold, levels equal to the ledger and to the holds."""
    _, mismatches = verify_ledger()
    assert mismatches == []
    for level in StockLevel.objects.all():
        assert min(level.on_hand, level.reserved, level.allocated) >= 0
        assert level.available >= 0, level


def _setup(shop, channel, stock_per_location: Sequence[int], variants: int = 1):
    locations = [make_location(shop, name=f"L{i}") for i in range(len(stock_per_location))]
    sell_from(channel, *locations)
    made = make_variants(shop, variants, channel=channel, sku="HOT")
    for variant in made:
        for location, quantity in zip(locations, stock_per_location, strict=True):
            if quantity:
                stock(variant, location, quantity)
    return made, locations


# -- the scenarios -----------------------------------------------------------------------------


def _m_buyers_for_n_units(shop, channel, *, units: Sequence[int], buyers: int) -> None:
    # given N units (over one or two locations) and M > N buyers of one each
    [variant], _ = _setup(shop, channel, units)
    n = sum(units)

    # when they all reserve at once
    outcomes = _race(
        [_reserver(shop, channel, f"buyer-{i}", [(variant.pk, 1)]) for i in range(buyers)]
    )

    # then exactly N succeed and the others are told why, clearly
    assert Counter(outcomes) == {OK: n, "insufficient_stock": buyers - n}, outcomes
    assert sum(level.reserved for level in StockLevel.objects.all()) == n
    assert StockMovement.objects.filter(reason="reserve").count() == n
    assert Reservation.objects.filter(status="active").count() == n
    _assert_sound()


def _mixed_carts(shop, channel, *, buyers: int, seed: int) -> None:
    # given three hot variants and carts sharing them, in every order
    variants, _ = _setup(shop, channel, [4, 3], variants=3)
    ids = [v.pk for v in variants]
    rng = random.Random(seed)
    carts = []
    for _ in range(buyers):
        chosen = rng.sample(ids, rng.randint(1, 3))
        rng.shuffle(chosen)
        carts.append([(pk, rng.randint(1, 2)) for pk in chosen])

    # when every cart is reserved at once
    outcomes = _race([_reserver(shop, channel, f"cart-{i}", cart) for i, cart in enumerate(carts)])

    # then no deadlock or other error, every cart all or nothing, nothing oversold
    assert set(outcomes) <= {OK, "insufficient_stock"}, outcomes
    assert OK in outcomes
    assert "insufficient_stock" in outcomes
    held: dict[int, int] = defaultdict(int)
    for index, (outcome, cart) in enumerate(zip(outcomes, carts, strict=True)):
        reservation = Reservation.objects.filter(owner=f"cart-{index}").first()
        if outcome != OK:
            assert reservation is None
            continue
        wanted: dict[int, int] = defaultdict(int)
        for pk, quantity in cart:
            wanted[pk] += quantity
            held[pk] += quantity
        got: dict[int, int] = defaultdict(int)
        for line in reservation.lines.select_related("level"):
            got[line.level.variant_id] += line.quantity
        assert got == wanted
    for pk in ids:
        levels = StockLevel.objects.filter(variant_id=pk)
        assert sum(level.reserved for level in levels) == held[pk]
        assert held[pk] <= 7
    _assert_sound()


def _checkout_life(shop, channel, *, buyers: int, seed: int) -> None:
    # given buyers who reserve, then either abandon or order (and ship), all at once
    variants, _ = _setup(shop, channel, [3, 3], variants=2)
    rng = random.Random(seed)
    plans = [(rng.choice(variants).pk, rng.choice(["release", "order"])) for _ in range(buyers)]

    def buyer(index: int, variant_id: int, plan: str) -> Callable[[], Any]:
        def job() -> None:
            reservation = reservations.reserve(
                actor=SYSTEM_ACTOR,
                shop=shop,
                channel=channel,
                owner=f"b{index}",
                lines=[(variant_id, 1)],
            )
            if plan == "release":
                reservations.reservation_release(
                    actor=SYSTEM_ACTOR, shop=shop, reservation_id=reservation.pk
                )
                return
            allocation = reservations.reservation_convert(
                actor=SYSTEM_ACTOR, shop=shop, reservation_id=reservation.pk, reference=f"o{index}"
            )
            allocations.allocation_ship(actor=SYSTEM_ACTOR, shop=shop, allocation_id=allocation.pk)

        return job

    outcomes = _race([buyer(i, pk, plan) for i, (pk, plan) in enumerate(plans)])

    assert set(outcomes) <= {OK, "insufficient_stock"}, outcomes
    shipped = StockMovement.objects.filter(reason="ship").count()
    assert shipped <= 12
    assert sum(level.on_hand for level in StockLevel.objects.all()) == 12 - shipped
    assert sum(level.reserved + level.allocated for level in StockLevel.objects.all()) == 0
    _assert_sound()


# -- PostgreSQL -----------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_pg_exactly_n_of_m_buyers_get_a_unit(shop, channel) -> None:
    _m_buyers_for_n_units(shop, channel, units=[5], buyers=24)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_pg_exactly_n_of_m_buyers_get_a_unit_over_two_locations(shop, channel) -> None:
    _m_buyers_for_n_units(shop, channel, units=[3, 4], buyers=24)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pg_mixed_carts_in_any_order_never_deadlock_or_oversell(shop, channel, seed) -> None:
    _mixed_carts(shop, channel, buyers=24, seed=seed)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_pg_reserve_release_order_and_ship_at_once(shop, channel) -> None:
    _checkout_life(shop, channel, buyers=20, seed=7)


# -- SQLite ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_sqlite_exactly_n_of_m_buyers_get_a_unit(sqlite_only, shop, channel) -> None:
    _m_buyers_for_n_units(shop, channel, units=[3, 2], buyers=16)


@pytest.mark.django_db(transaction=True)
def test_sqlite_mixed_carts_never_fail_with_a_locked_database(sqlite_only, shop, channel) -> None:
    _mixed_carts(shop, channel, buyers=16, seed=5)


@pytest.mark.django_db(transaction=True)
def test_sqlite_reserve_release_order_and_ship_at_once(sqlite_only, shop, channel) -> None:
    _checkout_life(shop, channel, buyers=12, seed=3)


def _same_key_at_once(shop, east) -> None:
    # given two retries of one adjustment, sent at the same moment with one key
    from django.test import Client

    from tests.factories import secret_key

    [variant] = make_variants(shop, sku="KEY")
    key = secret_key(shop)
    url = f"/api/v1/admin/inventory/variants/{variant.pk}/levels/{east.pk}/adjust"
    responses: list[Any] = []

    def post() -> None:
        client = Client(headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "same"})
        responses.append(client.post(url, {"delta": 5}, content_type="application/json"))

    # when both run
    outcomes = _race([post, post])

    # then the stock changed once and both got the same answer
    assert outcomes == [OK, OK]
    assert [r.status_code for r in responses] == [200, 200]
    assert responses[0].json() == responses[1].json()
    assert StockLevel.objects.get(variant=variant, location=east).on_hand == 5
    assert StockMovement.objects.filter(variant=variant).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_pg_one_idempotency_key_sent_twice_at_once_changes_stock_once(shop, east) -> None:
    _same_key_at_once(shop, east)


@pytest.mark.django_db(transaction=True)
def test_sqlite_one_idempotency_key_sent_twice_at_once_changes_stock_once(
    sqlite_only, shop, east
) -> None:
    _same_key_at_once(shop, east)


@pytest.mark.postgres
@pytest.mark.real_queue
@pytest.mark.django_db(transaction=True)
def test_pg_a_listing_locked_elsewhere_defers_the_flag_not_the_sale(
    shop, channel, east, settings
) -> None:
    # given the last unit of a product whose listing another transaction holds
    # (as catalog does while publishing), and a short lock timeout
    from django.db import transaction
    from django_tasks import default_task_backend

    from merchantry.catalog.models import ProductChannelListing
    from merchantry.inventory.tasks import refresh_listings

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    sell_from(channel, east)
    [variant] = make_variants(shop, channel=channel)
    stock(variant, east, 1)
    listing = ProductChannelListing.objects.get(product_id=variant.product_id)
    assert listing.in_stock is True
    held, done = threading.Event(), threading.Event()

    def hold_the_listing() -> None:
        try:
            with transaction.atomic():
                ProductChannelListing.objects.select_for_update().get(pk=listing.pk)
                held.set()
                done.wait(timeout=30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_listing)
    holder.start()
    assert held.wait(timeout=30)
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '200ms'")
    try:
        # when a buyer takes the last unit (its availability flips to zero)
        reservations.reserve(
            actor=SYSTEM_ACTOR, shop=shop, channel=channel, owner="c", lines=[(variant.pk, 1)]
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
        done.set()
        holder.join()

    # then the sale stands, and the flag is left to a job enqueued after commit
    assert StockLevel.objects.get(variant=variant).reserved == 1
    assert ProductChannelListing.objects.get(pk=listing.pk).in_stock is True
    deferred = [
        result.kwargs["product_ids"]
        for result in default_task_backend.results
        if result.task.module_path == refresh_listings.module_path
    ]
    assert deferred == [[variant.product_id]]
    refresh_listings.call(product_ids=[variant.product_id])
    assert ProductChannelListing.objects.get(pk=listing.pk).in_stock is False
    _assert_sound()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "key_in_use",
    [
        pytest.param(True, id="locked out of the adjustment"),
        pytest.param(False, id="locked out of recording the key's first use"),
    ],
)
def test_sqlite_a_writer_locked_out_past_the_timeout_gets_a_503_to_retry(
    sqlite_only, shop, key_in_use
) -> None:
    # given another connection holding SQLite's write lock
    from django.db import transaction
    from django.test import Client

    from tests.factories import secret_key

    east = make_location(shop, name="East")
    [variant] = make_variants(shop, sku="BUSY")
    stock(variant, east, 5)
    client = Client(headers={"Authorization": f"Bearer {secret_key(shop)}"})
    url = f"/api/v1/admin/inventory/variants/{variant.pk}/levels/{east.pk}/adjust"
    if key_in_use:  # its use is recorded now: the request's only write is the service's
        assert client.get("/api/v1/admin/inventory/levels").status_code == 200
    holding, done = threading.Event(), threading.Event()

    def hold_the_write_lock() -> None:
        try:
            with transaction.atomic():
                StockLevel.objects.filter(variant=variant).update(low_stock_threshold=1)
                holding.set()
                done.wait(timeout=30)
                transaction.set_rollback(True)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    assert holding.wait(timeout=10)
    before = (StockLevel.objects.get(variant=variant).on_hand, StockMovement.objects.count())
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 100")  # instead of waiting 20 s
    try:
        # when an adjustment cannot get the lock in time
        response = client.post(url, {"delta": 3}, content_type="application/json")
    finally:
        done.set()
        holder.join(timeout=30)

    # then it is a 503 to retry, not a server error, and nothing was written
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == "1"
    assert "busy" in response.json()["detail"]
    after = (StockLevel.objects.get(variant=variant).on_hand, StockMovement.objects.count())
    assert after == before
    # and once the lock is free, the same request goes through
    assert client.post(url, {"delta": 3}, content_type="application/json").status_code == 200
