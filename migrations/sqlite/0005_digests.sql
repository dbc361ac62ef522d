-- Digest membership: an item matching a digest-mode recipient is recorded here in the
-- transaction that stores the item (not a watermark on ids or times, which concurrent
-- writers commit out of order). A digest sends and removes a recipient's rows.
CREATE TABLE digest_entries (
    recipient_id INTEGER NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
    item_id      TEXT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (recipient_id, item_id)
);

-- When the recipient's last digest went out (or was found empty).
ALTER TABLE recipients ADD COLUMN last_digest_at TEXT;
