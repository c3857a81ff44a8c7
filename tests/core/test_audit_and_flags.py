"""The audit trail is append-only; feature flags resolve shop → installation → settings."""

from __future__ import annotations

import pytest
from django.test import Client

from merchantry.accounts.models import User
from merchantry.core import audit, flags
from merchantry.core.context import bind
from merchantry.core.errors import ValidationFailed
from merchantry.core.models import AuditEvent, FeatureFlag

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> User:
    return User.objects.create_superuser(email="ops@example.com", password="x-Long-pass-123")


def test_record_stores_actor_target_changes_and_request_id(staff: User) -> None:
    # given a request in progress
    bind(request_id="req-audit-1")

    # when a sensitive action is recorded
    event = audit.record(
        staff,
        "apikey.create",
        ("apikey", "42"),
        {"name": "ERP sync", "secret": "sk_live_abc", "nested": {"password": "p"}},
        shop_id=7,
    )

    # then who, what and which are stored, and secrets are not
    event.refresh_from_db()
    assert event.actor == f"user:{staff.pk}"
    assert event.actor_label == "ops@example.com"
    assert (event.action, event.target_type, event.target_id) == ("apikey.create", "apikey", "42")
    assert event.shop_id == 7
    assert event.request_id == "req-audit-1"
    assert event.changes == {
        "name": "ERP sync",
        "secret": "[redacted]",
        "nested": {"password": "[redacted]"},
    }


def test_system_actor_when_none() -> None:
    event = audit.record(None, "job.prune")
    assert event.actor == "system"


def test_audit_events_cannot_be_changed_or_deleted(staff: User) -> None:
    event = audit.record(staff, "role.change", staff, {"role": "owner"})

    event.action = "nothing.happened"
    with pytest.raises(TypeError, match="append-only"):
        event.save()
    with pytest.raises(TypeError, match="append-only"):
        event.delete()
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "role.change"


def test_admin_shows_the_audit_trail_read_only(client: Client, staff: User) -> None:
    event = audit.record(staff, "apikey.revoke", ("apikey", "9"))
    client.force_login(staff)

    listing = client.get("/admin/core/auditevent/")
    detail = client.get(f"/admin/core/auditevent/{event.pk}/change/")
    add = client.get("/admin/core/auditevent/add/")
    delete = client.post(f"/admin/core/auditevent/{event.pk}/delete/", {"post": "yes"})

    assert listing.status_code == 200
    assert b"apikey.revoke" in listing.content
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content
    assert add.status_code == 403
    assert delete.status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


# -- feature flags ----------------------------------------------------------------


def test_flag_defaults_come_from_settings(settings) -> None:
    settings.MERCHANTRY_FEATURE_FLAGS = {"new_checkout": True}
    assert flags.flag_is_enabled("new_checkout") is True
    assert flags.flag_is_enabled("new_checkout", shop=3) is True
    assert flags.flag_is_enabled("unknown_flag") is False


def test_installation_row_overrides_settings_and_shop_row_overrides_both(
    settings, staff: User
) -> None:
    settings.MERCHANTRY_FEATURE_FLAGS = {"beta_search": True}

    flags.flag_set("beta_search", False, actor=staff)
    assert flags.flag_is_enabled("beta_search") is False
    assert flags.flag_is_enabled("beta_search", shop=1) is False

    flags.flag_set("beta_search", True, shop=1, actor=staff)
    assert flags.flag_is_enabled("beta_search", shop=1) is True
    assert flags.flag_is_enabled("beta_search", shop=2) is False
    assert flags.flags_for_shop(shop=1)["beta_search"] is True
    assert flags.flags_for_shop(shop=2)["beta_search"] is False

    flags.flag_clear("beta_search", shop=1, actor=staff)
    assert flags.flag_is_enabled("beta_search", shop=1) is False
    flags.flag_clear("beta_search", actor=staff)
    assert flags.flag_is_enabled("beta_search", shop=1) is True


def test_flag_changes_are_audited(staff: User) -> None:
    flags.flag_set("quick_buy", True, shop=5, actor=staff)
    event = AuditEvent.objects.get(action="feature_flag.set")
    assert event.shop_id == 5
    assert event.changes == {"name": "quick_buy", "enabled": True}


def test_invalid_flag_name_is_refused_and_nothing_saved() -> None:
    with pytest.raises(ValidationFailed) as raised:
        flags.flag_set("Not A Name", True)
    assert raised.value.errors[0].loc == ("name",)
    assert not FeatureFlag.objects.exists()
    assert not AuditEvent.objects.exists()
