"""Staff two-factor sign-in: TOTP enrolment, the admin sign-in form, resets."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from merchantry.accounts.models import User
from merchantry.core.models import AuditEvent
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
TWO_FACTOR = "/admin/account/two-factor/"


def code_for(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows for ``device`` now (or a step later)."""
    value = totp(
        device.bin_key,
        step=device.step,
        t0=device.t0 - steps_ahead * device.step,
        digits=device.digits,
        drift=device.drift,
    )
    return f"{value:0{device.digits}d}"


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def staff() -> User:
    return UserFactory(email="staff@example.com")


def sign_in(client: Client, *, token: str | None = None, email: str = "staff@example.com"):
    data = {"username": email, "password": PASSWORD}
    if token is not None:
        data["otp_token"] = token
    return client.post(LOGIN, data)


# -- signing in -------------------------------------------------------------------------


def test_without_a_device_the_password_is_enough(client: Client, staff: User) -> None:
    response = sign_in(client)

    assert response.status_code == 302
    assert response.url == "/admin/"
    assert signed_in(client)


def test_login_page_offers_the_code_field(client: Client) -> None:
    body = client.get(LOGIN).content.decode()

    assert 'name="otp_token"' in body
    assert 'autocomplete="one-time-code"' in body


def test_with_a_confirmed_device_the_password_alone_is_refused(client: Client, staff: User) -> None:
    TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)

    response = sign_in(client)

    assert response.status_code == 200
    assert "Enter the 6-digit code from your authenticator app." in response.content.decode()
    assert not signed_in(client)


def test_with_a_confirmed_device_a_wrong_code_is_refused(client: Client, staff: User) -> None:
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    wrong = f"{(int(code_for(device)) + 500_000) % 1_000_000:06d}"

    response = sign_in(client, token=wrong)

    assert response.status_code == 200
    assert "That code is not valid" in response.content.decode()
    assert not signed_in(client)


def test_with_a_confirmed_device_a_valid_code_signs_in_verified(
    client: Client, staff: User
) -> None:
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)

    response = sign_in(client, token=code_for(device))

    assert response.status_code == 302
    assert signed_in(client)
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert client.get("/admin/").status_code == 200


def test_a_code_works_only_once(client: Client, staff: User) -> None:
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    token = code_for(device)
    assert sign_in(client, token=token).status_code == 302

    again = Client()
    response = sign_in(again, token=token)

    assert response.status_code == 200
    assert not signed_in(again)


def test_an_unconfirmed_device_does_not_require_a_code(client: Client, staff: User) -> None:
    TOTPDevice.objects.create(user=staff, name="phone", confirmed=False)

    response = sign_in(client)

    assert response.status_code == 302
    assert signed_in(client)


def test_a_session_without_the_second_factor_is_signed_out(client: Client, staff: User) -> None:
    # given a user with two-factor on, whose session skipped it
    TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client.force_login(staff)

    # when they open the admin
    response = client.get("/admin/")

    # then they are sent to sign in, and the session is gone
    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")
    assert not signed_in(client)


def test_admin_api_refuses_a_session_without_the_second_factor(client: Client, staff: User) -> None:
    # given a member of a shop with two-factor on, whose session skipped it
    from tests.factories import MembershipFactory

    membership = MembershipFactory(user=staff)
    TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client.force_login(staff)

    # when the session calls the Admin API
    response = client.get("/api/v1/admin/shop", headers={"X-Shop": membership.shop.slug})

    # then it is refused until the code is given
    assert response.status_code == 401
    assert response.json()["code"] == "second_factor_required"


def test_admin_api_accepts_a_verified_session(client: Client, staff: User) -> None:
    from tests.factories import MembershipFactory

    membership = MembershipFactory(user=staff)
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    assert sign_in(client, token=code_for(device)).status_code == 302

    response = client.get("/api/v1/admin/shop", headers={"X-Shop": membership.shop.slug})

    assert response.status_code == 200
    assert response.json()["slug"] == membership.shop.slug


# -- enrolling ---------------------------------------------------------------------------


def test_enrolment_shows_a_qr_code_and_turns_on_with_a_valid_code(
    client: Client, staff: User
) -> None:
    client.force_login(staff)

    # when they start the set-up
    started = client.post(TWO_FACTOR, {"action": "start"})
    page = client.get(TWO_FACTOR).content.decode()
    device = TOTPDevice.objects.get(user=staff)

    # then the page shows the otpauth URI and its QR code, not yet confirmed
    assert started.status_code == 302
    assert "otpauth://totp/Merchantry%3Astaff%40example.com?secret=" in page
    assert '<svg width="200" height="200" role="img" aria-label="QR code"' in page
    assert device.confirmed is False

    # when they confirm with the app's code
    confirmed = client.post(TWO_FACTOR, {"action": "confirm", "otp_token": code_for(device)})

    # then two-factor is on, this session counts as verified, and it is audited
    device.refresh_from_db()
    assert confirmed.status_code == 302
    assert device.confirmed is True
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert client.get("/admin/").status_code == 200
    assert "Two-factor authentication is on" in client.get(TWO_FACTOR).content.decode()
    assert AuditEvent.objects.filter(
        action="staff.two_factor_enable", actor=f"user:{staff.pk}"
    ).exists()


def test_enrolment_with_a_wrong_code_stays_off(client: Client, staff: User) -> None:
    client.force_login(staff)
    client.post(TWO_FACTOR, {"action": "start"})
    device = TOTPDevice.objects.get(user=staff)

    response = client.post(TWO_FACTOR, {"action": "confirm", "otp_token": "12345x"})

    assert response.status_code == 400
    assert "That code is not valid" in response.content.decode()
    device.refresh_from_db()
    assert device.confirmed is False
    assert not AuditEvent.objects.filter(action="staff.two_factor_enable").exists()


def test_turning_off_needs_a_current_code(client: Client, staff: User) -> None:
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    sign_in(client, token=code_for(device))

    refused = client.post(TWO_FACTOR, {"action": "disable", "otp_token": ""})
    assert refused.status_code == 400
    assert TOTPDevice.objects.filter(user=staff).count() == 1

    done = client.post(
        TWO_FACTOR, {"action": "disable", "otp_token": code_for(device, steps_ahead=1)}
    )

    assert done.status_code == 302
    assert not TOTPDevice.objects.filter(user=staff).exists()
    assert AuditEvent.objects.filter(action="staff.two_factor_disable").count() == 1


def test_enrolment_page_needs_a_signed_in_staff_member(client: Client) -> None:
    response = client.get(TWO_FACTOR)

    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")


# -- platform reset ------------------------------------------------------------------------


def test_superuser_resets_a_lost_device_and_never_sees_the_key(client: Client, staff) -> None:
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    root = User.objects.create_superuser(email="root@example.com", password="x" * 12)
    client.force_login(root)
    changelist = reverse("admin:otp_totp_totpdevice_changelist")

    detail = client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk]))
    response = client.post(
        changelist, {"action": "reset_two_factor", "_selected_action": [device.pk]}
    )

    assert device.key not in detail.content.decode()
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=staff).exists()
    event = AuditEvent.objects.get(action="staff.two_factor_reset")
    assert event.actor == f"user:{root.pk}"
    assert event.target_id == str(staff.pk)
