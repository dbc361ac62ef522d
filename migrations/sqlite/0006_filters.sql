-- Keyword or regex filters per recipient, applied to an item's title and summary:
-- `include` must match (when set), `exclude` must not.
ALTER TABLE recipients ADD COLUMN include_pattern TEXT;
ALTER TABLE recipients ADD COLUMN exclude_pattern TEXT;
