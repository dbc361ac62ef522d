-- Named leases shared by every instance on this database: the leader (Telegram updates,
-- digests, operator alerts) and each source's poll of one schedule tick.
CREATE TABLE leases (
    name   TEXT PRIMARY KEY,            -- `leader`, `poll:<source>`
    holder TEXT NOT NULL,               -- worker name (host-pid)
    until  TEXT NOT NULL,               -- the lease is free after this
    tick   TEXT,                        -- for polls: the scheduled time claimed
    done   INTEGER NOT NULL DEFAULT 0   -- for polls: the tick's poll finished
);
