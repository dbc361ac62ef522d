-- A counter bumped by every write that changes what a feed shows, so that servers (in
-- this process or another) can tell with one cheap read whether cached feeds are stale.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO meta (key, value) VALUES ('items_version', 0);

-- When a listing last showed the item: an item still listed is never pruned (pruning it
-- would make it come back as new).
ALTER TABLE items ADD COLUMN seen_at TEXT;
