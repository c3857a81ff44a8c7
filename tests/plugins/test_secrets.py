"""
Secret settings are encrypted at rest, never shown or logged, and re-encrypted
by key rotation; the encryption keys come from validated configuration.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from merchantry.config import ConfigError, load_config
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.core.crypto import (
    DecryptionFailed,
    decrypt_text,
    derive_key,
    encrypt_text,
    rotate_stored,
)
from merchantry.core.models import AuditEvent
from merchantry.plugins import services
from merchantry.plugins.models import PluginInstallation
from merchantry.testing import registered_plugin
from tests.plugins.sample_plugins import (
    API_KEY,
    VALID_SETTINGS,
    WEBHOOK_SECRET,
    installed,
    reset_sample_state,
    sample_plugin,
)

pytestmark = pytest.mark.django_db

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def sample() -> Iterator[None]:
    reset_sample_state()
    with registered_plugin(sample_plugin()):
        yield


def raw_row(installation: PluginInstallation) -> tuple[str, str]:
    """The secrets and settings columns exactly as the database holds them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secrets, settings FROM plugins_plugininstallation WHERE id = %s",
            [installation.pk],
        )
        secrets, settings = cursor.fetchone()
    return secrets, settings if isinstance(settings, str) else json.dumps(settings)


# -- at rest ------------------------------------------------------------------------------


def test_secret_fields_are_encrypted_in_the_database(shop) -> None:
    # when the shop saves its settings
    installation = installed(shop)

    # then the raw columns never hold a secret in clear
    secrets, settings = raw_row(installation)
    for secret in (API_KEY, WEBHOOK_SECRET):
        assert secret not in secrets
        assert secret not in settings
    assert secrets.startswith("gAAAAA")  # a Fernet token
    assert json.loads(settings) == {"mode": "live", "max_parcels": 2}
    # and decrypting the column gives them back
    assert json.loads(decrypt_text(secrets)) == {
        "api_key": API_KEY,
        "webhook_secret": WEBHOOK_SECRET,
    }


def test_reads_show_secrets_masked(shop) -> None:
    installation = installed(shop)

    view = services.plugin_view(installation)

    assert view.settings == {
        "api_key": "********",
        "webhook_secret": "********",
        "mode": "live",
        "max_parcels": 2,
    }
    assert view.secrets_set == {"api_key": True, "webhook_secret": True}
    assert API_KEY not in repr(view)


def test_secrets_are_never_logged(shop, caplog, capsys) -> None:
    installed(shop)
    services.plugin_configure(
        actor=SYSTEM_ACTOR,
        shop=shop,
        plugin_id="sample",
        settings={"api_key": "sk_live_second-key-0003", "mode": "test"},
    )
    services.plugin_health(actor=SYSTEM_ACTOR, shop=shop, plugin_id="sample")

    logged = caplog.text + "".join(capsys.readouterr())
    assert "plugin.configure" in logged  # the audit line was written...
    for secret in (API_KEY, WEBHOOK_SECRET, "sk_live_second-key-0003"):
        assert secret not in logged  # ...without any secret


def test_a_token_no_key_reads_is_a_clear_error_not_its_contents() -> None:
    token = Fernet(Fernet.generate_key()).encrypt(b"hunter2").decode()

    with pytest.raises(DecryptionFailed) as raised:
        decrypt_text(token)

    assert "MERCHANTRY_ENCRYPTION_KEYS" in str(raised.value)
    assert token not in str(raised.value)


# -- keys ---------------------------------------------------------------------------------


def test_without_configured_keys_the_key_is_derived_from_secret_key(settings) -> None:
    settings.MERCHANTRY_ENCRYPTION_KEYS = []
    token = encrypt_text("s3cret")

    derived = Fernet(derive_key(settings.SECRET_KEY).encode())
    assert derived.decrypt(token.encode()) == b"s3cret"
    old_secret_key = settings.SECRET_KEY
    settings.SECRET_KEY = "another-secret-key-of-enough-length-1234567890"
    with pytest.raises(DecryptionFailed):
        decrypt_text(token)
    # listing the old derived key keeps what it encrypted readable
    settings.MERCHANTRY_ENCRYPTION_KEYS = [NEW_KEY, derive_key(old_secret_key)]
    assert decrypt_text(token) == "s3cret"


def test_the_command_prints_the_derived_key(settings, capsys) -> None:
    call_command("rotate_encryption_keys", "--show-derived-key")

    assert capsys.readouterr().out.strip() == derive_key(settings.SECRET_KEY)


def test_key_rotation_re_encrypts_every_stored_secret(shop, other_shop, settings, capsys) -> None:
    # given secrets encrypted with the old key
    settings.MERCHANTRY_ENCRYPTION_KEYS = [OLD_KEY]
    first = installed(shop)
    second = installed(other_shop)
    before = {first.pk: raw_row(first)[0], second.pk: raw_row(second)[0]}

    # when a new key is put first and the command runs
    settings.MERCHANTRY_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    call_command("rotate_encryption_keys")

    # then every value changed, and the new key alone reads it
    out = capsys.readouterr().out
    assert "Re-encrypted 2 value(s); 0 already used the first key" in out
    settings.MERCHANTRY_ENCRYPTION_KEYS = [NEW_KEY]
    for installation in (first, second):
        raw = raw_row(installation)[0]
        assert raw != before[installation.pk]
        assert json.loads(decrypt_text(raw))["api_key"] == API_KEY
        installation.refresh_from_db()
        assert services.plugin_settings(installation).webhook_secret == WEBHOOK_SECRET
    # and a configuration with only the old key can no longer read it
    settings.MERCHANTRY_ENCRYPTION_KEYS = [OLD_KEY]
    with pytest.raises(DecryptionFailed):
        decrypt_text(raw_row(first)[0])
    event = AuditEvent.objects.get(action="encryption_keys.rotate")
    assert event.changes["re_encrypted"] == 2


def test_rotation_is_idempotent(shop, settings) -> None:
    settings.MERCHANTRY_ENCRYPTION_KEYS = [OLD_KEY]
    installation = installed(shop)
    settings.MERCHANTRY_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    rotate_stored()
    after_first = raw_row(installation)[0]

    report = rotate_stored()

    assert (report.re_encrypted, report.already_current, report.unreadable) == (0, 1, [])
    assert raw_row(installation)[0] == after_first


def test_rotation_reports_values_no_key_reads_and_leaves_them(shop, settings) -> None:
    settings.MERCHANTRY_ENCRYPTION_KEYS = [OLD_KEY]
    installation = installed(shop)
    raw = raw_row(installation)[0]
    settings.MERCHANTRY_ENCRYPTION_KEYS = [NEW_KEY]  # the old key was dropped too early

    with pytest.raises(CommandError) as raised:
        call_command("rotate_encryption_keys")

    assert "1 value(s) cannot be decrypted" in str(raised.value)
    assert raw_row(installation)[0] == raw


def test_unreadable_secrets_can_be_entered_again(shop, settings) -> None:
    settings.MERCHANTRY_ENCRYPTION_KEYS = [OLD_KEY]
    installed(shop)
    settings.MERCHANTRY_ENCRYPTION_KEYS = [NEW_KEY]

    installation = services.plugin_configure(
        actor=SYSTEM_ACTOR, shop=shop, plugin_id="sample", settings=VALID_SETTINGS
    )

    assert services.plugin_settings(installation).api_key.get_secret_value() == API_KEY


# -- configuration ------------------------------------------------------------------------


def test_encryption_keys_are_read_from_the_environment(tmp_path) -> None:
    config = load_config(MERCHANTRY_ENCRYPTION_KEYS=f" {NEW_KEY} , {OLD_KEY} ", data_dir=tmp_path)

    assert [key.get_secret_value() for key in config.encryption_keys] == [NEW_KEY, OLD_KEY]
    shown = config.masked()["MERCHANTRY_ENCRYPTION_KEYS"]
    assert shown == "******** (2 keys)"
    assert NEW_KEY not in json.dumps(config.masked())


def test_a_bad_encryption_key_stops_start_up_with_one_clear_line(tmp_path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(MERCHANTRY_ENCRYPTION_KEYS=f"{NEW_KEY},not-a-key-zzz", data_dir=tmp_path)

    message = str(raised.value)
    assert message.startswith("MERCHANTRY_ENCRYPTION_KEYS: key 2 of 2 is not a Fernet key")
    assert "\n" not in message
    assert "not-a-key-zzz" not in message
    assert NEW_KEY not in message


def test_unset_encryption_keys_mean_the_derived_key(tmp_path) -> None:
    config = load_config(data_dir=tmp_path)

    assert config.encryption_keys == []
    assert config.masked()["MERCHANTRY_ENCRYPTION_KEYS"] == "(unset: derived from SECRET_KEY)"
