"""Inventory fixtures: a channel selling from two warehouses."""

from __future__ import annotations

import pytest

from merchantry.core.actors import SYSTEM_ACTOR
from tests.inventory.factories import make_location, sell_from


@pytest.fixture
def actor():
    return SYSTEM_ACTOR


@pytest.fixture
def east(shop):
    return make_location(shop, name="East", handle="east")


@pytest.fixture
def west(shop):
    return make_location(shop, name="West", handle="west")


@pytest.fixture
def selling(channel, east, west):
    """The channel sells from East first, then West."""
    sell_from(channel, east, west)
    return channel
