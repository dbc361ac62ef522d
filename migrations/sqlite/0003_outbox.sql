-- Recipients (Telegram chats now, email addresses later), their topics, and the delivery
-- outbox: one row per (item, recipient), written in the transaction that stores the item.

CREATE TABLE recipients (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL,                     -- telegram | email
    address      TEXT NOT NULL,                     -- chat id, or email address
    thread_id    INTEGER NOT NULL DEFAULT 0,        -- forum topic (message_thread_id), 0 = none
    state        TEXT NOT NULL DEFAULT 'active',    -- active | inactive
    state_reason TEXT,
    origin       TEXT NOT NULL DEFAULT 'cli',       -- cli | config | bot
    mode         TEXT NOT NULL DEFAULT 'instant',   -- instant | daily | weekly
    tz           TEXT NOT NULL DEFAULT 'Asia/Shanghai',
    created_at   TEXT NOT NULL,
    UNIQUE (kind, address, thread_id)
);

-- A topic is a region, a tag, or both (AND); '' means "any". A recipient matches an item
-- when any of its topics does.
CREATE TABLE topics (
    recipient_id INTEGER NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
    region       TEXT NOT NULL DEFAULT '',
    tag          TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (recipient_id, region, tag)
);

CREATE TABLE deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id      TEXT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    recipient_id INTEGER NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
    state        TEXT NOT NULL DEFAULT 'queued',    -- queued | sent | failed | cancelled
    attempts     INTEGER NOT NULL DEFAULT 0,
    due_at       TEXT NOT NULL,
    claimed_by   TEXT,
    lease_until  TEXT,
    last_error   TEXT,
    sent_at      TEXT,
    created_at   TEXT NOT NULL,
    UNIQUE (item_id, recipient_id)
);
CREATE INDEX deliveries_due ON deliveries (state, due_at);
CREATE INDEX deliveries_recipient ON deliveries (recipient_id, state);
