"""Admin API for the shop itself, its domains, channels and API keys."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router, Status

from merchantry.core.pagination import CursorPage, Page, PageParams, paginate
from merchantry.tenancy import services
from merchantry.tenancy.context import request_context
from merchantry.tenancy.models import ApiKey, Channel, Domain, Shop
from merchantry.tenancy.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    ChannelCreate,
    ChannelOut,
    ChannelPatch,
    DomainCreate,
    DomainOut,
    ShopOut,
    ShopPatch,
    WithExtra,
    parse_id,
)

__all__ = ["admin_router"]

admin_router = Router()


# -- shop ------------------------------------------------------------------------


@admin_router.get("/shop", response=ShopOut, tags=["shop"], summary="The shop's settings")
def shop_get(request: HttpRequest) -> Shop:
    ctx = request_context(request)
    return services.shop_view(actor=ctx.actor, shop=ctx.shop)


@admin_router.patch("/shop", response=ShopOut, tags=["shop"], summary="Change the shop's settings")
def shop_patch(request: HttpRequest, payload: ShopPatch) -> Shop:
    ctx = request_context(request)
    return services.shop_update(
        actor=ctx.actor, shop=ctx.shop, changes=payload.model_dump(exclude_unset=True)
    )


# -- channels --------------------------------------------------------------------


@admin_router.get("/channels", response=Page[ChannelOut], tags=["channels"], summary="Channels")
def channel_list(request: HttpRequest, page: Query[PageParams]) -> CursorPage[Channel]:
    ctx = request_context(request)
    return paginate(services.channel_list(actor=ctx.actor, shop=ctx.shop), page)


@admin_router.post(
    "/channels", response={201: ChannelOut}, tags=["channels"], summary="Create a channel"
)
def channel_create(request: HttpRequest, payload: ChannelCreate) -> Status[Channel]:
    ctx = request_context(request)
    channel = services.channel_create(actor=ctx.actor, shop=ctx.shop, **payload.model_dump())
    return Status(201, channel)


@admin_router.get(
    "/channels/{channel_id}", response=ChannelOut, tags=["channels"], summary="One channel"
)
def channel_get(request: HttpRequest, channel_id: str) -> Channel:
    ctx = request_context(request)
    return services.channel_detail(
        actor=ctx.actor, shop=ctx.shop, channel_id=parse_id(channel_id, what="channel")
    )


@admin_router.patch(
    "/channels/{channel_id}", response=ChannelOut, tags=["channels"], summary="Change a channel"
)
def channel_patch(request: HttpRequest, channel_id: str, payload: ChannelPatch) -> Channel:
    ctx = request_context(request)
    return services.channel_update(
        actor=ctx.actor,
        shop=ctx.shop,
        channel_id=parse_id(channel_id, what="channel"),
        changes=payload.model_dump(exclude_unset=True),
    )


@admin_router.delete(
    "/channels/{channel_id}",
    response={204: None},
    tags=["channels"],
    summary="Delete a channel and its publishable keys",
)
def channel_delete(request: HttpRequest, channel_id: str) -> Status[None]:
    ctx = request_context(request)
    services.channel_delete(
        actor=ctx.actor, shop=ctx.shop, channel_id=parse_id(channel_id, what="channel")
    )
    return Status(204, None)


# -- domains ---------------------------------------------------------------------


@admin_router.get("/domains", response=Page[DomainOut], tags=["domains"], summary="Domains")
def domain_list(request: HttpRequest, page: Query[PageParams]) -> CursorPage[Domain]:
    ctx = request_context(request)
    return paginate(services.domain_list(actor=ctx.actor, shop=ctx.shop), page)


@admin_router.post("/domains", response={201: DomainOut}, tags=["domains"], summary="Add a domain")
def domain_create(request: HttpRequest, payload: DomainCreate) -> Status[Domain]:
    ctx = request_context(request)
    domain = services.domain_add(
        actor=ctx.actor, shop=ctx.shop, host=payload.host, is_primary=payload.is_primary
    )
    return Status(201, domain)


@admin_router.delete(
    "/domains/{domain_id}", response={204: None}, tags=["domains"], summary="Remove a domain"
)
def domain_delete(request: HttpRequest, domain_id: str) -> Status[None]:
    ctx = request_context(request)
    services.domain_remove(
        actor=ctx.actor, shop=ctx.shop, domain_id=parse_id(domain_id, what="domain")
    )
    return Status(204, None)


# -- API keys --------------------------------------------------------------------


@admin_router.get("/api-keys", response=Page[ApiKeyOut], tags=["api-keys"], summary="API keys")
def apikey_list(request: HttpRequest, page: Query[PageParams]) -> CursorPage[ApiKey]:
    ctx = request_context(request)
    return paginate(services.apikey_list(actor=ctx.actor, shop=ctx.shop), page)


@admin_router.post(
    "/api-keys",
    response={201: ApiKeyCreated},
    tags=["api-keys"],
    summary="Create an API key (the key is in this response only)",
)
def apikey_create(request: HttpRequest, payload: ApiKeyCreate) -> Status[WithExtra]:
    ctx = request_context(request)
    channel_id = None
    if payload.channel_id is not None:
        channel_id = parse_id(payload.channel_id, what="channel")
    # A key minted by a person remembers who; one minted by a key does not.
    user = getattr(request, "user", None) if ctx.api_key is None else None
    created = services.apikey_issue(
        actor=ctx.actor,
        shop=ctx.shop,
        kind=payload.kind,
        name=payload.name,
        channel_id=channel_id,
        permissions=[str(code) for code in payload.permissions],
        created_by_id=user.pk if user is not None and user.is_authenticated else None,
    )
    return Status(201, WithExtra(created.api_key, key=created.raw))


@admin_router.get(
    "/api-keys/{key_id}", response=ApiKeyOut, tags=["api-keys"], summary="One API key"
)
def apikey_get(request: HttpRequest, key_id: str) -> ApiKey:
    ctx = request_context(request)
    key_pk = parse_id(key_id, what="API key")
    return services.apikey_get(actor=ctx.actor, shop=ctx.shop, key_id=key_pk)


@admin_router.post(
    "/api-keys/{key_id}/revoke",
    response=ApiKeyOut,
    tags=["api-keys"],
    summary="Revoke an API key (at once, for good)",
)
def apikey_revoke(request: HttpRequest, key_id: str) -> ApiKey:
    ctx = request_context(request)
    return services.apikey_revoke(
        actor=ctx.actor, shop=ctx.shop, key_id=parse_id(key_id, what="API key")
    )
