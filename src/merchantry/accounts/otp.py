"""
Two-factor sign-in for staff: TOTP authenticator apps, through django-otp.

A staff member enrols by scanning a QR code (an ``otpauth://`` URI) into an
authenticator app and confirming one code. From then on the admin's sign-in
form asks for the current 6-digit code as well as the password; staff
without a confirmed device sign in with their password alone. Enrolling,
turning two-factor off and a platform administrator's reset are audited.
"""

from __future__ import annotations

import re
from typing import Any

import qrcode
import qrcode.image.svg
from django import forms
from django.db import transaction
from django_otp.forms import OTPAuthenticationFormMixin
from django_otp.plugins.otp_totp.models import TOTPDevice
from unfold.forms import AuthenticationForm
from unfold.widgets import UnfoldAdminTextInputWidget

from merchantry.accounts.models import User
from merchantry.core import audit
from merchantry.core.actors import Actor
from merchantry.core.errors import Conflict, FieldError, PermissionDenied, ValidationFailed

__all__ = [
    "AdminLoginForm",
    "confirmed_device",
    "pending_device",
    "qr_code_svg",
    "totp_disable",
    "totp_enrolment_confirm",
    "totp_enrolment_start",
    "totp_reset",
]

DEVICE_NAME = "Authenticator app"
_CODE_RE = re.compile(r"^\d{6}$")


def confirmed_device(user: User) -> TOTPDevice | None:
    """Return the user's confirmed authenticator, if two-factor is on."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def pending_device(user: User) -> TOTPDevice | None:
    """Return the authenticator the user started to enrol but has not confirmed."""
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()


def _bad_code(message: str = "That code is not valid. Check the app and try again.") -> Exception:
    return ValidationFailed(errors=[FieldError(("otp_token",), message, "invalid_token")])


def _verify(device: TOTPDevice, token: str) -> bool:
    # verify_token records the time step it accepted (so a code works once)
    # and throttles repeated failures; both need the row locked.
    token = (token or "").strip().replace(" ", "")
    if not _CODE_RE.match(token):
        return False
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        return bool(locked.verify_token(token))


def totp_enrolment_start(*, user: User) -> TOTPDevice:
    """Return the user's pending authenticator, creating one with a fresh secret."""
    if confirmed_device(user) is not None:
        raise Conflict("Two-factor authentication is already on.", code="two_factor_on")
    device = pending_device(user)
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def totp_enrolment_confirm(*, user: User, token: str) -> TOTPDevice:
    """Confirm the pending authenticator with a code from it; two-factor is then on."""
    device = pending_device(user)
    if device is None:
        raise Conflict("Start the set-up first.", code="no_pending_device")
    if not _verify(device, token):
        raise _bad_code()
    with transaction.atomic():
        TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        audit.record(user, "staff.two_factor_enable", user, {"device": device.name})
    device.refresh_from_db()
    return device


def totp_disable(*, user: User, token: str) -> None:
    """Turn two-factor off; a current code proves the phone is at hand."""
    device = confirmed_device(user)
    if device is None:
        raise Conflict("Two-factor authentication is not on.", code="two_factor_off")
    if not _verify(device, token):
        raise _bad_code()
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        audit.record(user, "staff.two_factor_disable", user, {})


def totp_reset(*, actor: Actor, user: User) -> None:
    """Remove a user's authenticators (lost phone); platform administrators only."""
    if not actor.is_platform_admin:
        raise PermissionDenied("Only platform administrators reset two-factor sign-in.")
    with transaction.atomic():
        removed, _ = TOTPDevice.objects.filter(user=user).delete()
        audit.record(actor, "staff.two_factor_reset", user, {"devices_removed": removed})


def qr_code_svg(data: str, *, size: int = 200) -> str:
    """Return ``data`` as a QR code, an inline SVG element ``size`` pixels wide."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    svg = image.to_string(encoding="unicode")
    return re.sub(
        r'width="[^"]*" height="[^"]*"',
        f'width="{size}" height="{size}" role="img" aria-label="QR code"',
        svg,
        count=1,
    )


class AdminLoginForm(OTPAuthenticationFormMixin, AuthenticationForm):
    """
    The admin's sign-in form: email and password, plus the authenticator code
    for staff who turned two-factor on. Without a confirmed device the code
    is not asked for.
    """

    otp_token = forms.CharField(
        required=False,
        label="Authentication code",
        help_text="The 6-digit code from your authenticator app, if two-factor is on.",
        widget=UnfoldAdminTextInputWidget(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "pattern": "[0-9]*",
                "maxlength": "6",
            }
        ),
    )

    otp_error_messages = {
        **OTPAuthenticationFormMixin.otp_error_messages,
        "token_required": "Enter the 6-digit code from your authenticator app.",
        "invalid_token": "That code is not valid. Check your authenticator app and try again.",
    }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        user = self.get_user()
        if user is not None and confirmed_device(user) is not None:
            self.clean_otp(user)
        return cleaned

    def _chosen_device(self, user: User) -> TOTPDevice | None:
        # One authenticator per person, so there is nothing to choose; the
        # mixin calls this inside its transaction, hence the row lock.
        return (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=True)
            .order_by("pk")
            .first()
        )
