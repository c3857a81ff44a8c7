"""Staff accounts and the demo seed."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.hashers import identify_hasher
from django.db import IntegrityError, transaction
from django.test import Client

from merchantry.accounts.models import User
from merchantry.core.models import AuditEvent
from merchantry.demo import DEMO_STAFF_EMAIL, seed_demo

pytestmark = pytest.mark.django_db


def test_email_is_unique_regardless_of_case() -> None:
    User.objects.create_user(email="Ana@Example.com", password="pw-123456789")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(email="ana@example.com", password="pw-123456789")


def test_demo_seed_is_idempotent_and_shows_the_password_once(client: Client) -> None:
    # when the demo is seeded twice
    first = "\n".join(seed_demo())
    second = "\n".join(seed_demo())

    # then one superuser exists; the password was shown the first time only
    user = User.objects.get(email=DEMO_STAFF_EMAIL)
    assert User.objects.count() == 1
    assert user.is_superuser
    assert user.is_staff
    password = re.search(r"^\s+password\s+(\S+)$", first, re.MULTILINE).group(1)
    assert password not in second
    assert "already exists" in second
    assert AuditEvent.objects.filter(action="user.create").count() == 1

    # and the printed password signs in to the admin
    assert client.login(username=DEMO_STAFF_EMAIL, password=password)
    assert client.get("/admin/").status_code == 200


def test_argon2_is_the_production_hasher(settings) -> None:
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
    user = User.objects.create_user(email="h@example.com", password="pw-123456789")
    assert identify_hasher(user.password).algorithm == "argon2"


def test_admin_login_page_is_branded(client: Client) -> None:
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert b"Merchantry" in response.content
