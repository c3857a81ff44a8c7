"""
Full-text search of products: a generated, GIN-indexed ``tsvector`` column on
PostgreSQL, an FTS5 table kept by triggers on SQLite (see
``merchantry.catalog.search``, which also re-creates the SQLite triggers after
later migrations rebuild the table).
"""

from django.db import migrations


def forward(apps, schema_editor):
    from merchantry.catalog.search import ensure_index

    ensure_index(schema_editor.connection)


def backward(apps, schema_editor):
    from merchantry.catalog.search import drop_index

    drop_index(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_media_taxonomy_attributes")]

    operations = [migrations.RunPython(forward, backward)]
