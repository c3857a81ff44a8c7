"""The demo shop ships within the United States at a flat rate, and seeding twice adds nothing."""

from __future__ import annotations

import pytest

from merchantry.demo import seed_demo
from merchantry.plugins.providers import Address
from merchantry.shipping.models import ShippingMethod, ShippingZone
from merchantry.shipping.quotes import available_methods
from merchantry.tenancy.models import Channel
from tests.shipping.conftest import line

pytestmark = pytest.mark.django_db


def test_the_demo_channel_has_a_domestic_flat_rate() -> None:
    seed_demo()
    seed_demo()

    channel = Channel.objects.get(shop__slug="demo", slug="web")
    result = available_methods(
        channel=channel, address=Address(country="US", postal_code="94107"), lines=[line()]
    )

    assert ShippingZone.objects.count() == 1
    assert ShippingMethod.objects.count() == 1
    assert [(m.name, str(m.price)) for m in result.methods] == [("Standard", "5.00 USD")]
