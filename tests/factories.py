"""factory_boy factories for every model, and helpers to mint keys through the services."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from merchantry.accounts.models import Customer, Membership, Role, User
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.tenancy.models import Channel, ChannelKind, Domain, Shop
from merchantry.tenancy.permissions import ALL, BUILTIN_ROLES
from merchantry.tenancy.services import apikey_create

PASSWORD = "Correct-Horse-42"


class ShopFactory(DjangoModelFactory):
    class Meta:
        model = Shop

    name = factory.Sequence(lambda n: f"Shop {n}")
    slug = factory.Sequence(lambda n: f"shop-{n}")
    default_currency = "USD"
    default_country = "US"
    timezone = "UTC"


class DomainFactory(DjangoModelFactory):
    class Meta:
        model = Domain

    shop = factory.SubFactory(ShopFactory)
    host = factory.Sequence(lambda n: f"shop{n}.example.com")
    is_primary = True


class ChannelFactory(DjangoModelFactory):
    class Meta:
        model = Channel

    shop = factory.SubFactory(ShopFactory)
    name = "Web store"
    slug = factory.Sequence(lambda n: f"web-{n}")
    kind = ChannelKind.WEB
    currency = factory.LazyAttribute(lambda o: o.shop.default_currency)
    default_country = factory.LazyAttribute(lambda o: o.shop.default_country)


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"staff{n}@example.com")
    full_name = factory.Faker("name")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def builtin_role(key: str) -> Role:
    # Transactional tests flush every table, the migration's rows included.
    return Role.objects.get_or_create(shop=None, key=key, defaults={"name": BUILTIN_ROLES[key][0]})[
        0
    ]


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    shop = factory.SubFactory(ShopFactory)
    role = factory.LazyFunction(lambda: builtin_role("owner"))


class CustomerFactory(DjangoModelFactory):
    class Meta:
        model = Customer
        skip_postgeneration_save = True

    shop = factory.SubFactory(ShopFactory)
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    full_name = factory.Faker("name")
    is_registered = True
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def secret_key(shop: Shop, permissions=ALL, name: str = "test key") -> str:
    """Mint a secret key for ``shop`` through the service; return the raw key."""
    return apikey_create(
        actor=SYSTEM_ACTOR, shop=shop, kind="secret", name=name, permissions=permissions
    ).raw


def publishable_key(channel: Channel, name: str = "storefront") -> str:
    return apikey_create(
        actor=SYSTEM_ACTOR, shop=channel.shop, kind="publishable", name=name, channel=channel
    ).raw
