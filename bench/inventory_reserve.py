"""
Concurrent reservations against a few hot SKUs, on the database in DATABASE_URL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench \
        .venv/bin/python bench/inventory_reserve.py

For each number of concurrent clients (threads, each with its own database
connection) it makes a fresh shop whose channel sells from two locations,
stocks a few hot SKUs, and has the clients reserve (mostly one unit, some
two-SKU carts in random order) until more has been asked for than exists.
It reports reservations per second and the latency percentiles of a reserve
call, then checks that nothing was oversold: every level's buckets equal its
ledger and its reservation lines, no level went below zero, and the units
held equal the units of the successful reservations.

Threads share one Python process (the GIL): with many clients the numbers
measure the database's row locking and this process's CPU together. The
database is migrated first (``--no-migrate`` to skip).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "merchantry.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")


@dataclass
class Run:
    clients: int
    attempts: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    units_reserved: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def reserved(self) -> int:
        return self.outcomes["ok"]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _setup(skus: int, per_location: int):
    from merchantry.catalog import services as catalog
    from merchantry.core.actors import SYSTEM_ACTOR
    from merchantry.inventory import services
    from merchantry.tenancy.services import channel_create, shop_create

    tag = uuid.uuid4().hex[:8]
    shop = shop_create(
        actor=SYSTEM_ACTOR, slug=f"bench-{tag}", name=f"Bench {tag}", currency="USD", country="US"
    )
    channel = channel_create(actor=SYSTEM_ACTOR, shop=shop, slug="web", name="Web")
    locations = [
        services.location_create(actor=SYSTEM_ACTOR, shop=shop, name=name)
        for name in ("East", "West")
    ]
    services.channel_locations_set(
        actor=SYSTEM_ACTOR, shop=shop, channel_id=channel.pk, location_ids=[x.pk for x in locations]
    )
    product = catalog.product_create(actor=SYSTEM_ACTOR, shop=shop, title="Hot", status="active")
    catalog.options_set(
        actor=SYSTEM_ACTOR,
        shop=shop,
        product_id=product.pk,
        options=[{"name": "Size", "values": [f"S{i}" for i in range(skus)]}],
    )
    variants = catalog.variants_generate(actor=SYSTEM_ACTOR, shop=shop, product_id=product.pk)
    catalog.listing_publish(
        actor=SYSTEM_ACTOR, shop=shop, product_id=product.pk, channel_id=channel.pk
    )
    for variant in variants:
        for location in locations:
            services.stock_receive(
                actor=SYSTEM_ACTOR,
                shop=shop,
                variant_id=variant.pk,
                location_id=location.pk,
                quantity=per_location,
            )
    return shop, channel, [v.pk for v in variants]


def _run(clients: int, *, skus: int, per_location: int, oversubscribe: float, seed: int) -> Run:
    from django.db import connections

    from merchantry.core.actors import SYSTEM_ACTOR
    from merchantry.inventory.errors import InsufficientStock
    from merchantry.inventory.reservations import reserve

    shop, channel, variant_ids = _setup(skus, per_location)
    total_units = skus * 2 * per_location
    attempts = int(total_units * oversubscribe)
    run = Run(clients=clients, attempts=attempts)
    lock = threading.Lock()
    counter = iter(range(attempts))
    barrier = threading.Barrier(clients)

    def client(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        barrier.wait()
        try:
            while True:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                if rng.random() < 0.2:
                    lines = [(pk, 1) for pk in rng.sample(variant_ids, 2)]
                else:
                    lines = [(rng.choice(variant_ids), 1)]
                started = time.perf_counter()
                try:
                    reserve(
                        actor=SYSTEM_ACTOR,
                        shop=shop,
                        channel=channel,
                        owner=f"bench-{index}",
                        lines=lines,
                    )
                    outcome = "ok"
                except InsufficientStock:
                    outcome = "insufficient_stock"
                except Exception as exc:
                    outcome = f"error: {type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - started
                with lock:
                    run.outcomes[outcome] += 1
                    run.latencies.append(elapsed)
                    if outcome == "ok":
                        run.units_reserved += sum(q for _, q in lines)
        finally:
            connections.close_all()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(client, range(clients)))
    run.seconds = time.perf_counter() - started
    run.problems = _check(shop, run)
    return run


def _check(shop, run: Run) -> list[str]:
    """Return every way the run oversold or lost track of stock (empty: none)."""
    from merchantry.inventory.models import StockLevel
    from merchantry.inventory.verify import verify_ledger

    problems = [str(m) for m in verify_ledger(shop=shop)[1]]
    levels = list(StockLevel.objects.for_shop(shop))
    for level in levels:
        if min(level.on_hand, level.reserved, level.allocated, level.available) < 0:
            problems.append(f"negative: {level} {level.on_hand}/{level.reserved}")
    held = sum(level.reserved for level in levels)
    if held != run.units_reserved:
        problems.append(f"held {held} units, successful reservations took {run.units_reserved}")
    if held > sum(level.on_hand for level in levels):
        problems.append("more held than on hand")
    errors = [o for o in run.outcomes if o.startswith("error")]
    problems += errors
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels (default 1,8,32)")
    parser.add_argument("--skus", type=int, default=4, help="hot SKUs (default 4)")
    parser.add_argument(
        "--per-location", type=int, default=150, help="units of each SKU per location"
    )
    parser.add_argument(
        "--oversubscribe",
        type=float,
        default=1.25,
        help="reservation attempts per unit in stock (default 1.25: some must fail)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-migrate", action="store_true")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        print("Set DATABASE_URL (postgres://...) to the database to run against.", file=sys.stderr)
        return 2

    import django

    django.setup()
    from django.db import connection

    if not args.no_migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    print(
        f"database: {connection.vendor} {connection.settings_dict['NAME']}; "
        f"{args.skus} hot SKUs x 2 locations x {args.per_location} units; "
        f"{args.oversubscribe}x as many reservation attempts as units"
    )
    header = (
        f"{'clients':>7} {'attempts':>8} {'reserved':>8} {'refused':>7} {'res/s':>8} "
        f"{'calls/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}  oversell check"
    )
    print(header)
    failed = False
    for clients in [int(c) for c in args.clients.split(",")]:
        run = _run(
            clients,
            skus=args.skus,
            per_location=args.per_location,
            oversubscribe=args.oversubscribe,
            seed=args.seed,
        )
        ms = [x * 1000 for x in run.latencies]
        verdict = "OK: zero oversell, ledger balanced" if not run.problems else "FAILED"
        print(
            f"{clients:>7} {run.attempts:>8} {run.reserved:>8} "
            f"{run.outcomes['insufficient_stock']:>7} {run.reserved / run.seconds:>8.1f} "
            f"{len(run.latencies) / run.seconds:>8.1f} {statistics.median(ms):>7.1f} "
            f"{_percentile(ms, 0.95):>7.1f} {_percentile(ms, 0.99):>7.1f}  {verdict}"
        )
        for problem in run.problems[:20]:
            print(f"    {problem}")
        failed = failed or bool(run.problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
