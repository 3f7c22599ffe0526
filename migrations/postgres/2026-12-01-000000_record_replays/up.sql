-- What an idempotent retry must repeat exactly: the request it answered (distribution, range
-- asked for and purpose, as one fingerprint) and the bytes it served. Keys remembered before
-- this migration have no fingerprint and are refused on replay.
ALTER TABLE ledger_idempotency ADD COLUMN fingerprint TEXT;
ALTER TABLE ledger_idempotency ADD COLUMN range_first BIGINT;
ALTER TABLE ledger_idempotency ADD COLUMN range_last BIGINT;
