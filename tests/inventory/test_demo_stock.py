"""The demo seed gives the demo channel a warehouse, and its variants some stock, once."""

from __future__ import annotations

import pytest

from merchantry.demo import DEMO_LOCATION_HANDLE, DEMO_STOCK, seed_demo
from merchantry.inventory.models import ChannelLocation, StockLevel, StockLocation
from merchantry.tenancy.models import Channel, Shop
from tests.inventory.factories import make_variants

pytestmark = pytest.mark.django_db


def test_the_demo_channel_sells_from_a_stocked_warehouse_seeded_once() -> None:
    seed_demo()
    shop = Shop.objects.get(slug="demo")
    channel = Channel.objects.get(shop=shop)
    [variant] = make_variants(shop, channel=channel)

    output = "\n".join(seed_demo())
    seed_demo()

    location = StockLocation.objects.get(shop=shop)
    assert location.handle == DEMO_LOCATION_HANDLE
    assert list(ChannelLocation.objects.values_list("channel_id", "location_id")) == [
        (channel.pk, location.pk)
    ]
    assert StockLevel.objects.get(variant=variant).on_hand == DEMO_STOCK
    assert "Stock location 'main' (Main warehouse) supplies channel 'web'." in output
