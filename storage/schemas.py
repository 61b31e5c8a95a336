"""Arrow schemas: the versioned contracts between the crawl, extraction and storage stages."""

from __future__ import annotations

import pyarrow as pa

#: Bumped when a column is added; recorded in every snapshot manifest. Never rename columns.
SCHEMA_VERSION = 1

TS = pa.timestamp("us", tz="UTC")

#: One row per fetch attempt, failures included (written by the crawler).
PAGES_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("final_url", pa.string()),
        pa.field("url_key", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("crawl_id", pa.string(), nullable=False),
        pa.field("status", pa.int32()),  # null when no HTTP response arrived (see `error`)
        pa.field("content_type", pa.string()),
        pa.field("fetched_at", TS, nullable=False),
        pa.field("discovered_via", pa.string()),  # feed | sitemap | link | start
        pa.field("depth", pa.int32()),
        pa.field("referrer", pa.string()),
        pa.field("warc_file", pa.string()),  # path relative to the archive root
        pa.field("warc_offset", pa.int64()),
        pa.field("warc_length", pa.int64()),
        pa.field("payload_digest", pa.string()),
        pa.field("error", pa.string()),
        # Additions beyond the v1 contract (allowed: add freely, never rename).
        pa.field("published_hint", TS),  # date from a feed / news sitemap, if any
        pa.field("title_hint", pa.string()),  # title from a feed / news sitemap, if any
    ]
)

#: What extraction produces per article page; storage adds identity, versioning and dedup.
EXTRACTED_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("canonical_url", pa.string(), nullable=False),
        pa.field("url_key", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("authors", pa.list_(pa.string())),
        pa.field("published_at", TS),
        pa.field("modified_at", TS),
        pa.field("language", pa.string()),
        pa.field("sitename", pa.string()),
        pa.field("description", pa.string()),
        pa.field("categories", pa.list_(pa.string())),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("image", pa.string()),
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("word_count", pa.int32(), nullable=False),
        pa.field("content_hash", pa.string(), nullable=False),
        pa.field("simhash", pa.uint64(), nullable=False),
        pa.field("fetched_at", TS, nullable=False),
        pa.field("extracted_at", TS, nullable=False),
        pa.field("extractor", pa.string(), nullable=False),
        pa.field("warc_file", pa.string(), nullable=False),
        pa.field("warc_offset", pa.int64(), nullable=False),
        pa.field("warc_length", pa.int64(), nullable=False),
        # Optional: bits 64..255 of the SimHash (`storage.dedup.fingerprint`); storage
        # computes them from the text when null, so extraction may fill them in its pool.
        pa.field("simhash_ext", pa.binary(24)),
    ]
)

#: The `articles` dataset (v1 contract of DESIGN.md).
ARTICLES_SCHEMA = pa.schema(
    [
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("version", pa.int32(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("canonical_url", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("authors", pa.list_(pa.string())),
        pa.field("published_at", TS),
        pa.field("modified_at", TS),
        pa.field("language", pa.string()),
        pa.field("sitename", pa.string()),
        pa.field("description", pa.string()),
        pa.field("categories", pa.list_(pa.string())),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("image", pa.string()),
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("word_count", pa.int32(), nullable=False),
        pa.field("content_hash", pa.string(), nullable=False),
        pa.field("simhash", pa.uint64(), nullable=False),
        pa.field("duplicate_of", pa.string()),
        pa.field("fetched_at", TS, nullable=False),
        pa.field("extracted_at", TS, nullable=False),
        pa.field("extractor", pa.string(), nullable=False),
        pa.field("snapshot_id", pa.string(), nullable=False),
        pa.field("warc_file", pa.string(), nullable=False),
        pa.field("warc_offset", pa.int64(), nullable=False),
        pa.field("warc_length", pa.int64(), nullable=False),
        pa.field("url_key", pa.string()),  # addition: the canonical URL key article_id hashes
        # addition: bits 64..255 of the 256-bit SimHash (`simhash` holds bits 0..63),
        # three little-endian uint64; computed by storage at commit time.
        pa.field("simhash_ext", pa.binary(24)),
    ]
)


class SchemaError(ValueError):
    """Rows that do not fit a contract schema (the message is one line naming the column)."""


def conform_table(table: pa.Table, schema: pa.Schema, what: str) -> pa.Table:
    """Cast `table` to `schema`: missing nullable columns become nulls, extra columns are
    dropped, a null in a non-nullable column or an uncastable column is a `SchemaError`."""
    cols = []
    for f in schema:
        if f.name in table.column_names:
            col = table.column(f.name)
            if not col.type.equals(f.type):
                try:
                    col = col.cast(f.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                    raise SchemaError(f"{what}: column {f.name!r} cannot be {f.type}: {e}") from e
        elif f.nullable:
            col = pa.chunked_array([pa.nulls(table.num_rows, f.type)])
        else:
            raise SchemaError(f"{what}: required column {f.name!r} is missing")
        if not f.nullable and col.null_count:
            raise SchemaError(f"{what}: column {f.name!r} has {col.null_count} null value(s)")
        cols.append(col)
    return pa.Table.from_arrays(cols, schema=schema)
