"""Create the built-in roles; their permissions are read from code, not from these rows."""

from django.db import migrations

BUILTIN = {
    "owner": "Owner",
    "admin": "Admin",
    "catalog_manager": "Catalog manager",
    "fulfillment": "Fulfillment",
    "support": "Support",
    "read_only": "Read-only",
}


def create_builtin_roles(apps, schema_editor):
    Role = apps.get_model("accounts", "Role")
    for key, name in BUILTIN.items():
        Role.objects.get_or_create(shop=None, key=key, defaults={"name": name})


def remove_builtin_roles(apps, schema_editor):
    apps.get_model("accounts", "Role").objects.filter(shop=None, key__in=BUILTIN).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_customer_customeraddress_customertoken_role_and_more")]

    operations = [migrations.RunPython(create_builtin_roles, remove_builtin_roles)]
