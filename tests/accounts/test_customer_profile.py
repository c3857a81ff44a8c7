"""The signed-in customer: profile, password change and saved addresses."""

from __future__ import annotations

import pytest

from merchantry.accounts.customer_addresses import MAX_ADDRESSES
from merchantry.accounts.models import CustomerAddress, CustomerToken
from merchantry.core.models import AuditEvent
from merchantry.tenancy.keys import hash_key
from tests.accounts.test_customer_support import (  # noqa: F401 (fixtures)
    NEW_PASSWORD,
    delete,
    fixture_customer,
    fixture_fresh_throttle_counters,
    fixture_other_store_client,
    get,
    patch,
    post,
    sign_in,
    snapshot,
    token_for,
)
from tests.factories import PASSWORD, CustomerFactory

pytestmark = pytest.mark.django_db

HOME = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "line1": "1 Infinite Loop",
    "city": "Cupertino",
    "postal_code": "95014",
    "country": "us",
    "subdivision": "us-ca",
}


@pytest.fixture
def token(store_client, customer) -> str:
    return token_for(store_client, customer.email)


def _address(customer, **fields) -> CustomerAddress:
    values = {"line1": "2 Side St", "city": "Springfield", "country": "US", **fields}
    return CustomerAddress.objects.create(shop=customer.shop, customer=customer, **values)


# -- profile -------------------------------------------------------------------------------


def test_me_returns_the_signed_in_customer(store_client, customer, token) -> None:
    response = get(store_client, "/customers/me", token=token)

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(customer.pk)
    assert body["email"] == "ada@example.com"
    assert body["full_name"] == "Ada Lovelace"


@pytest.mark.parametrize(
    "header", ["", "Bearer", "Bearer mct_nope", "Basic YWRhOnB3", "Bearer msk_abc"]
)
def test_me_without_a_valid_token_is_401(store_client, customer, header) -> None:
    response = store_client.get("/api/v1/store/customers/me", headers={"Authorization": header})

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "not_authenticated"


def test_update_changes_only_the_fields_sent(store_client, customer, token) -> None:
    # when
    response = patch(
        store_client,
        "/customers/me",
        {"phone": "+1 555 0100", "accepts_marketing": True},
        token=token,
    )

    # then
    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.phone == "+1 555 0100"
    assert customer.accepts_marketing is True
    assert customer.full_name == "Ada Lovelace"
    assert response.json()["phone"] == "+1 555 0100"


@pytest.mark.parametrize(
    ("_case", "payload", "loc", "code"),
    [
        ("email is read-only", {"email": "new@example.com"}, ["email"], "read_only"),
        ("null name", {"full_name": None}, ["full_name"], "null"),
        ("name too long", {"full_name": "n" * 151}, ["body", "payload", "full_name"], None),
        ("phone with letters", {"phone": "call me"}, ["body", "payload", "phone"], None),
        (
            "marketing not a bool",
            {"accepts_marketing": 1},
            ["body", "payload", "accepts_marketing"],
            None,
        ),
    ],
)
def test_update_refuses_bad_input_and_writes_nothing(
    store_client, customer, token, _case, payload, loc, code
) -> None:
    before = snapshot()

    response = patch(store_client, "/customers/me", payload, token=token)

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [e["loc"] for e in errors] == [loc]
    if code:
        assert errors[0]["code"] == code
    assert snapshot() == before


# -- password change ---------------------------------------------------------------------------


def test_password_change_revokes_the_other_tokens(store_client, customer, token) -> None:
    # given
    other = token_for(store_client, customer.email)

    # when
    response = post(
        store_client,
        "/customers/me/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        token=token,
    )

    # then
    assert response.status_code == 204
    customer.refresh_from_db()
    assert customer.check_password(NEW_PASSWORD)
    assert get(store_client, "/customers/me", token=token).status_code == 200
    assert get(store_client, "/customers/me", token=other).status_code == 401
    assert CustomerToken.objects.get(key_hash=hash_key(token)).revoked_at is None
    assert AuditEvent.objects.filter(action="customer.password_change").count() == 1


def test_password_change_with_a_wrong_current_password_changes_nothing(
    store_client, customer, token
) -> None:
    before = snapshot()

    response = post(
        store_client,
        "/customers/me/password",
        {"current_password": "Not-My-Password-1", "new_password": NEW_PASSWORD},
        token=token,
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["current_password"]
    assert response.json()["errors"][0]["code"] == "incorrect"
    assert snapshot() == before


def test_password_change_guesses_count_towards_the_lockout(
    settings, store_client, customer, token
) -> None:
    settings.MERCHANTRY_SIGNIN_MAX_FAILURES = 2
    wrong = {"current_password": "Not-My-Password-1", "new_password": NEW_PASSWORD}
    for _ in range(2):
        post(store_client, "/customers/me/password", wrong, token=token)

    response = post(
        store_client,
        "/customers/me/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        token=token,
    )

    assert response.status_code == 429
    customer.refresh_from_db()
    assert customer.check_password(PASSWORD)


def test_password_change_refuses_a_weak_password(store_client, customer, token) -> None:
    response = post(
        store_client,
        "/customers/me/password",
        {"current_password": PASSWORD, "new_password": "short"},
        token=token,
    )

    assert response.status_code == 422
    assert {tuple(e["loc"]) for e in response.json()["errors"]} == {("new_password",)}
    customer.refresh_from_db()
    assert customer.check_password(PASSWORD)


# -- addresses ---------------------------------------------------------------------------------


def test_address_lifecycle(store_client, customer, token) -> None:
    # create
    created = post(store_client, "/customers/me/addresses", HOME, token=token)
    assert created.status_code == 201
    body = created.json()
    address = CustomerAddress.objects.get()
    assert body["id"] == str(address.pk)
    assert (address.customer, address.shop) == (customer, customer.shop)
    assert (address.country, address.subdivision) == ("US", "US-CA")

    # list and read
    listed = get(store_client, "/customers/me/addresses", token=token).json()
    assert listed == {"items": [body], "next_cursor": None}
    assert get(store_client, f"/customers/me/addresses/{address.pk}", token=token).json() == body

    # update
    updated = patch(
        store_client, f"/customers/me/addresses/{address.pk}", {"line2": "Apt 4"}, token=token
    )
    assert updated.status_code == 200
    assert updated.json()["line2"] == "Apt 4"
    assert updated.json()["line1"] == "1 Infinite Loop"

    # delete
    deleted = delete(store_client, f"/customers/me/addresses/{address.pk}", token=token)
    assert deleted.status_code == 204
    assert not CustomerAddress.objects.exists()


def test_a_new_default_address_takes_the_flag_from_the_old_one(
    store_client, customer, token
) -> None:
    # given
    old = _address(customer, is_default_shipping=True, is_default_billing=True)

    # when
    response = post(
        store_client,
        "/customers/me/addresses",
        {**HOME, "is_default_shipping": True},
        token=token,
    )

    # then
    assert response.status_code == 201
    new = CustomerAddress.objects.get(pk=int(response.json()["id"]))
    old.refresh_from_db()
    assert (new.is_default_shipping, new.is_default_billing) == (True, False)
    assert (old.is_default_shipping, old.is_default_billing) == (False, True)


def test_update_moves_the_billing_default(store_client, customer, token) -> None:
    first = _address(customer, is_default_billing=True)
    second = _address(customer)

    response = patch(
        store_client,
        f"/customers/me/addresses/{second.pk}",
        {"is_default_billing": True},
        token=token,
    )

    assert response.status_code == 200
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.is_default_billing, second.is_default_billing) == (False, True)


def test_another_customers_or_shops_address_is_not_found(
    store_client, other_store_client, customer, token, other_shop
) -> None:
    # given
    neighbour = CustomerFactory(shop=customer.shop, email="bob@example.com")
    theirs = _address(neighbour)
    stranger = CustomerFactory(shop=other_shop, email="ada@example.com")
    foreign = _address(stranger)
    before = snapshot()

    # when / then
    for address in (theirs, foreign):
        path = f"/customers/me/addresses/{address.pk}"
        assert get(store_client, path, token=token).status_code == 404
        assert patch(store_client, path, {"city": "X"}, token=token).status_code == 404
        assert delete(store_client, path, token=token).status_code == 404
    assert snapshot() == before


@pytest.mark.parametrize("address_id", ["abc", "0", "-1", "99999999999999999999999", "1.5"])
def test_malformed_address_ids_are_not_found(store_client, token, address_id) -> None:
    response = get(store_client, f"/customers/me/addresses/{address_id}", token=token)

    assert response.status_code == 404


def test_address_count_is_capped(store_client, customer, token) -> None:
    for _ in range(MAX_ADDRESSES):
        _address(customer)

    response = post(store_client, "/customers/me/addresses", HOME, token=token)

    assert response.status_code == 409
    assert response.json()["code"] == "address_limit"
    assert CustomerAddress.objects.count() == MAX_ADDRESSES


@pytest.mark.parametrize(
    ("_case", "payload"),
    [
        ("missing line1", {k: v for k, v in HOME.items() if k != "line1"}),
        ("missing country", {k: v for k, v in HOME.items() if k != "country"}),
        ("unknown country", {**HOME, "country": "XX"}),
        ("three-letter country", {**HOME, "country": "USA"}),
        ("malformed subdivision", {**HOME, "subdivision": "California"}),
        ("subdivision of another country", {**HOME, "subdivision": "CA-ON"}),
        ("empty line1", {**HOME, "line1": "   "}),
        ("line1 too long", {**HOME, "line1": "x" * 201}),
        ("city not a string", {**HOME, "city": 42}),
        ("default flag not a bool", {**HOME, "is_default_shipping": "true"}),
        ("NUL in city", {**HOME, "city": "Cuper\x00tino"}),
    ],
)
def test_bad_address_input_is_422_and_writes_nothing(store_client, token, _case, payload) -> None:
    before = snapshot()

    response = post(store_client, "/customers/me/addresses", payload, token=token)

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert snapshot() == before


@pytest.mark.parametrize(
    ("_case", "payload"),
    [
        ("null line1", {"line1": None}),
        ("subdivision not of the stored country", {"subdivision": "DE-BY"}),
        ("country without its subdivision", {"country": "DE"}),
        ("postal code too long", {"postal_code": "9" * 21}),
    ],
)
def test_bad_address_update_is_422_and_writes_nothing(
    store_client, customer, token, _case, payload
) -> None:
    address = _address(customer, subdivision="US-IL")
    before = snapshot()

    response = patch(store_client, f"/customers/me/addresses/{address.pk}", payload, token=token)

    assert response.status_code == 422
    assert snapshot() == before


def test_addresses_need_a_signed_in_customer(store_client, customer) -> None:
    before = snapshot()

    listed = get(store_client, "/customers/me/addresses")
    created = post(store_client, "/customers/me/addresses", HOME)

    assert listed.status_code == created.status_code == 401
    assert snapshot() == before


@pytest.mark.parametrize("count", [1, 10])
def test_listing_addresses_takes_the_same_queries_for_any_count(
    store_client, customer, token, django_assert_max_num_queries, count
) -> None:
    for _ in range(count):
        _address(customer)

    with django_assert_max_num_queries(5):
        response = get(store_client, "/customers/me/addresses", token=token)

    assert len(response.json()["items"]) == count


@pytest.mark.parametrize(
    ("_case", "payload"),
    [
        ("missing new password", {"current_password": PASSWORD}),
        ("current password not a string", {"current_password": 1, "new_password": NEW_PASSWORD}),
        ("new password too long", {"current_password": PASSWORD, "new_password": "p" * 129}),
        ("empty current password", {"current_password": "", "new_password": NEW_PASSWORD}),
        ("body not an object", ["x"]),
    ],
)
def test_bad_password_change_input_is_422_and_writes_nothing(
    store_client, customer, token, _case, payload
) -> None:
    before = snapshot()

    response = post(store_client, "/customers/me/password", payload, token=token)

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert snapshot() == before


@pytest.mark.parametrize("body", ["[]", '"x"', "12", "null", "true"])
def test_update_with_a_body_that_is_not_an_object_is_422(store_client, customer, token, body):
    # given a customer, when PATCH sends valid JSON that is not an object
    before = snapshot()
    response = patch(store_client, "/customers/me", body, token=token)

    # then nothing passes as "no changes"
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert snapshot() == before
