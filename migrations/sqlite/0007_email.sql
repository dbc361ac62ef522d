-- Email subscriptions: double opt-in confirmations and refusals counted per recipient.

-- A confirmation mailed to an address; the token is stored only as its SHA-256. The
-- request (topics, filters, mode…) is applied as a whole when the link is followed.
CREATE TABLE confirmations (
    token_hash   TEXT PRIMARY KEY,
    address      TEXT NOT NULL,
    request      TEXT NOT NULL,                     -- JSON SubscriptionRequest
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    confirmed_at TEXT,
    recipient_id INTEGER                            -- set when confirmed
);
CREATE INDEX confirmations_address ON confirmations (address, created_at);

-- Permanent refusals (SMTP 5xx) in a row; at 3 the recipient is suspended.
ALTER TABLE recipients ADD COLUMN bounces INTEGER NOT NULL DEFAULT 0;
