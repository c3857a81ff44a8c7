"""
Product full-text search on PostgreSQL and SQLite, with the same meaning on both.

A query is split into words; a product matches when every word matches the
start of a word of its title, vendor, type, tags or description, after English
stemming ("shirts" finds "Shirt", "lin" finds "Linen"). Matches rank by where
they are: title over vendor/type/tags over description.

PostgreSQL answers from a generated ``tsvector`` column (``ts_rank`` over a
prefix ``tsquery``), SQLite from an FTS5 table kept by triggers (``bm25``
with column weights). Neither store is a model field; both are created by
migration ``0003_search`` and, on SQLite, re-created by :func:`ensure_index`
after every migration, because SQLite rebuilds a table to alter it and the
rebuild drops its triggers.
"""

from __future__ import annotations

import re

from django.db import connection
from django.db.models import FloatField
from django.db.models.expressions import RawSQL

__all__ = ["MAX_TERMS", "ensure_index", "matching_ids", "rank", "search_terms"]

MAX_TERMS = 8
_WORD = re.compile(r"\w+", re.UNICODE)
# bm25 weights of the FTS5 columns title, meta (vendor, type, tags), description.
_BM25 = "bm25(catalog_product_fts, 10.0, 4.0, 1.0)"
_PG_CONFIG = "'merchantry_english'::regconfig"

_SQLITE_ROW = (
    "{p}.id, {p}.title, "
    "{p}.vendor || ' ' || {p}.product_type || ' ' || replace({p}.tags_index, '|', ' '), "
    "{p}.description"
)
SQLITE_SCHEMA = [
    # porter: "shirts" finds "shirt", as PostgreSQL's english stemmer does;
    # the prefix indexes make type-ahead queries ("lin*") cheap.
    """
    CREATE VIRTUAL TABLE IF NOT EXISTS catalog_product_fts USING fts5(
        title, meta, description, tokenize = 'porter unicode61', prefix = '2 3'
    )
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS catalog_product_fts_insert AFTER INSERT ON catalog_product
    BEGIN
        INSERT INTO catalog_product_fts (rowid, title, meta, description)
        VALUES ({_SQLITE_ROW.format(p="new")});
    END
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS catalog_product_fts_update
    AFTER UPDATE OF title, vendor, product_type, tags_index, description ON catalog_product
    BEGIN
        DELETE FROM catalog_product_fts WHERE rowid = old.id;
        INSERT INTO catalog_product_fts (rowid, title, meta, description)
        VALUES ({_SQLITE_ROW.format(p="new")});
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS catalog_product_fts_delete AFTER DELETE ON catalog_product
    BEGIN
        DELETE FROM catalog_product_fts WHERE rowid = old.id;
    END
    """,
]
SQLITE_REBUILD = [
    "DELETE FROM catalog_product_fts",
    "INSERT INTO catalog_product_fts (rowid, title, meta, description) "
    f"SELECT {_SQLITE_ROW.format(p='catalog_product')} FROM catalog_product",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS catalog_product_fts_insert",
    "DROP TRIGGER IF EXISTS catalog_product_fts_update",
    "DROP TRIGGER IF EXISTS catalog_product_fts_delete",
    "DROP TABLE IF EXISTS catalog_product_fts",
]
POSTGRES_SCHEMA = [
    # English stemming without the stop-word list: SQLite's porter tokenizer
    # has none, and a shopper searching "few" or "top" expects results.
    """
    DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_ts_dict WHERE dictname = 'merchantry_english_stem') THEN
            CREATE TEXT SEARCH DICTIONARY merchantry_english_stem (
                TEMPLATE = snowball, Language = english
            );
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'merchantry_english') THEN
            CREATE TEXT SEARCH CONFIGURATION merchantry_english (COPY = english);
            ALTER TEXT SEARCH CONFIGURATION merchantry_english
                ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part
                WITH merchantry_english_stem;
        END IF;
    END $$
    """,
    """
    ALTER TABLE catalog_product ADD COLUMN IF NOT EXISTS search_vector tsvector
    GENERATED ALWAYS AS (
        setweight(to_tsvector('merchantry_english'::regconfig, coalesce(title, '')), 'A')
        || setweight(to_tsvector('merchantry_english'::regconfig,
               coalesce(vendor, '') || ' ' || coalesce(product_type, '') || ' '
               || replace(coalesce(tags_index, ''), '|', ' ')), 'B')
        || setweight(to_tsvector('merchantry_english'::regconfig, coalesce(description, '')), 'C')
    ) STORED
    """,
    "CREATE INDEX IF NOT EXISTS catalog_product_search ON catalog_product "
    "USING GIN (search_vector)",
]
POSTGRES_DROP = [
    "DROP INDEX IF EXISTS catalog_product_search",
    "ALTER TABLE catalog_product DROP COLUMN IF EXISTS search_vector",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS merchantry_english",
    "DROP TEXT SEARCH DICTIONARY IF EXISTS merchantry_english_stem",
]


def ensure_index(using_connection=None) -> None:
    """
    Create the search store if it is missing; on SQLite also (re)fill it when
    its triggers had to be re-created, since rows written meanwhile are absent.
    """
    conn = using_connection or connection
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            for statement in POSTGRES_SCHEMA:
                cursor.execute(statement)
        elif conn.vendor == "sqlite":
            cursor.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
                "AND name LIKE 'catalog_product_fts_%'"
            )
            complete = cursor.fetchone()[0] == 3
            for statement in SQLITE_SCHEMA:
                cursor.execute(statement)
            if not complete:
                for statement in SQLITE_REBUILD:
                    cursor.execute(statement)


def drop_index(using_connection=None) -> None:
    conn = using_connection or connection
    statements = {"postgresql": POSTGRES_DROP, "sqlite": SQLITE_DROP}.get(conn.vendor, [])
    with conn.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def search_terms(text: str) -> list[str]:
    """The words of a query, lowercased, at most :data:`MAX_TERMS` of them."""
    return [word.lower() for word in _WORD.findall(text or "")][:MAX_TERMS]


def _postgres_tsquery(terms: list[str]) -> str:
    # Words only (never the user's operators) reach to_tsquery, each as a prefix.
    return " & ".join(f"{term}:*" for term in terms)


def _fts5_match(terms: list[str]) -> str:
    # Every term a quoted prefix phrase, so no FTS5 query syntax gets through; ANDed.
    return " ".join('"' + term.replace('"', "") + '"*' for term in terms)


def matching_ids(text: str) -> RawSQL | None:
    """
    A subquery of the ids of the products matching ``text`` (of every shop:
    the caller's own filters scope it), or None when ``text`` has no words.
    Self-contained, so it can sit in any query: ``filter(product_id__in=...)``.
    """
    terms = search_terms(text)
    if not terms:
        return None
    if connection.vendor == "postgresql":
        return RawSQL(
            "SELECT id FROM catalog_product "
            "WHERE search_vector @@ to_tsquery('merchantry_english'::regconfig, %s)",
            (_postgres_tsquery(terms),),
        )
    return RawSQL(
        "SELECT rowid FROM catalog_product_fts WHERE catalog_product_fts MATCH %s",
        (_fts5_match(terms),),
    )


def rank(text: str, product_table: str = "catalog_product") -> RawSQL:
    """
    How well each product matches ``text``, higher is better, for ``order_by``.
    It refers to the product table by name, so use it only in a query that
    selects from or joins ``catalog_product`` under that name.
    """
    terms = search_terms(text) or ["_"]
    if connection.vendor == "postgresql":
        return RawSQL(
            f"ts_rank({product_table}.search_vector, to_tsquery({_PG_CONFIG}, %s))",
            (_postgres_tsquery(terms),),
            output_field=FloatField(),
        )
    return RawSQL(
        f"SELECT -{_BM25} FROM catalog_product_fts "
        f"WHERE catalog_product_fts MATCH %s AND catalog_product_fts.rowid = {product_table}.id",
        (_fts5_match(terms),),
        output_field=FloatField(),
    )
