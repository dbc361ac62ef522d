-- Digest preferences set by `/digest` (and `tidings subscribe --at/--weekday`), and which
-- operator alerts were already announced (to the operator's Telegram chat).

-- `HH:MM` in the recipient's time zone, for daily and weekly digests.
ALTER TABLE recipients ADD COLUMN digest_at TEXT;
-- `mon` … `sun`, for weekly digests.
ALTER TABLE recipients ADD COLUMN digest_weekday TEXT;

-- When the alert was sent to the operator; NULL while still to be announced.
ALTER TABLE alerts ADD COLUMN announced_at TEXT;
-- Alerts raised before this column existed are not announced retroactively.
UPDATE alerts SET announced_at = created_at;
