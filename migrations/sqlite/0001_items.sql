-- Items, their identity keys, per-source and per-input state, HTTP validators, alerts.

CREATE TABLE items (
    id            TEXT PRIMARY KEY,
    source        TEXT NOT NULL,
    url           TEXT NOT NULL,
    guid          TEXT,
    title         TEXT NOT NULL,
    author        TEXT,
    region_slug   TEXT,
    region_name   TEXT,
    region_known  INTEGER NOT NULL DEFAULT 0,
    published     TEXT,              -- RFC 3339 with the publisher's offset
    published_at  TEXT,              -- the same instant in UTC, for ordering
    pub_day       TEXT,              -- local publish date, for title + date matching
    tags          TEXT NOT NULL,     -- JSON array
    summary       TEXT,
    body_html     TEXT,
    images        TEXT NOT NULL,     -- JSON array
    comments      INTEGER,
    content_hash  TEXT NOT NULL,
    listing_hash  TEXT,
    baseline      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    fetched_at    TEXT NOT NULL
);
CREATE INDEX items_source_published ON items (source, published_at DESC);
CREATE INDEX items_published ON items (published_at DESC);
CREATE INDEX items_title_day ON items (source, title, pub_day);
CREATE INDEX items_updated ON items (updated_at);

CREATE TABLE item_tags (
    item_id TEXT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    PRIMARY KEY (item_id, tag)
);
CREATE INDEX item_tags_tag ON item_tags (tag);

CREATE TABLE item_keys (
    source  TEXT NOT NULL,
    key     TEXT NOT NULL,
    item_id TEXT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    PRIMARY KEY (source, key)
);
CREATE INDEX item_keys_item ON item_keys (item_id);

CREATE TABLE sources (
    id                   TEXT PRIMARY KEY,
    last_success         TEXT,
    last_attempt         TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_error           TEXT,
    next_poll            TEXT,
    baseline_done        INTEGER NOT NULL DEFAULT 0,
    accept_flood         INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE inputs (
    source       TEXT NOT NULL,
    input        TEXT NOT NULL,
    last_entries INTEGER NOT NULL DEFAULT 0,
    degraded     TEXT,
    held         TEXT,
    PRIMARY KEY (source, input)
);

CREATE TABLE http_cache (
    url           TEXT PRIMARY KEY,
    etag          TEXT,
    last_modified TEXT
);

CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT NOT NULL,
    input       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    message     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    resolved_at TEXT
);
