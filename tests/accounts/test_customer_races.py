"""Concurrent requests on PostgreSQL: the database, not luck, keeps accounts consistent."""

from __future__ import annotations

import threading

import pytest
from django.core.cache import cache
from django.db import connection

from merchantry.accounts.customer_addresses import address_create
from merchantry.accounts.customers import customer_register
from merchantry.accounts.models import Customer, CustomerAddress
from merchantry.core.errors import Conflict
from tests.factories import PASSWORD, ChannelFactory, CustomerFactory, ShopFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _run_together(work, count: int) -> list[object]:
    """Run ``work(i)`` in ``count`` threads released at once; return results or errors."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_concurrent_registrations_of_one_email_make_one_account() -> None:
    # given
    cache.clear()
    shop = ShopFactory()
    ChannelFactory(shop=shop)

    def register(i: int) -> object:
        return customer_register(
            shop=shop,
            email="race@example.com",
            password=PASSWORD,
            base_url="http://testserver",
            ip=f"192.0.2.{i}",
        )

    # when
    results = _run_together(register, 4)

    # then
    conflicts = [r for r in results if isinstance(r, Conflict)]
    created = [r for r in results if not isinstance(r, Exception)]
    assert len(created) == 1, results
    assert len(conflicts) == 3
    assert {c.code for c in conflicts} == {"email_taken"}
    assert Customer.objects.filter(shop=shop).count() == 1


def test_concurrent_default_flags_leave_one_default() -> None:
    # given

    shop = ShopFactory()
    customer = CustomerFactory(shop=shop)
    data = {
        "line1": "1 Main St",
        "city": "Springfield",
        "country": "US",
        "is_default_shipping": True,
    }

    # when
    results = _run_together(lambda i: address_create(customer=customer, data=data), 4)

    # then
    assert [r for r in results if isinstance(r, Exception)] == []
    assert CustomerAddress.objects.filter(customer=customer).count() == 4
    assert CustomerAddress.objects.filter(customer=customer, is_default_shipping=True).count() == 1
