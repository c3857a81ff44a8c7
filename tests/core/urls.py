"""URLs the tests add to the real ones: an API built with the real factory, and views that fail."""

from __future__ import annotations

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from ninja import Field, Schema

from merchantry.api.v1 import build_api
from merchantry.core.errors import Conflict
from merchantry.urls import urlpatterns as real_urlpatterns
from tests.core.sample_jobs import write_context

api = build_api(version="test")


class ItemIn(Schema):
    name: str = Field(max_length=50)
    quantity: int = Field(ge=1)


@api.post("/items")
def create_item(request: HttpRequest, payload: ItemIn) -> dict[str, object]:
    return {"name": payload.name, "quantity": payload.quantity}


@api.get("/boom")
def boom(request: HttpRequest) -> None:
    raise RuntimeError("secret internals: password=hunter2")


@api.get("/db-error")
def db_error(request: HttpRequest) -> None:
    raise DatabaseError('relation "shop_secret" does not exist LINE 1: SELECT * FROM shop_secret')


@api.get("/conflict")
def conflict(request: HttpRequest) -> None:
    raise Conflict("The order is already paid.", code="order_already_paid")


def html_boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("template-side failure")


def enqueue_job(request: HttpRequest) -> JsonResponse:
    result = write_context.enqueue(request.GET["path"])
    return JsonResponse({"result_id": result.id})


urlpatterns = [
    path("api/test/", api.urls),
    path("boom", html_boom),
    path("enqueue", enqueue_job),
    *real_urlpatterns,
]
