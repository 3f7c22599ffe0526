ALTER TABLE ledger_idempotency DROP COLUMN range_last;
ALTER TABLE ledger_idempotency DROP COLUMN range_first;
ALTER TABLE ledger_idempotency DROP COLUMN fingerprint;
