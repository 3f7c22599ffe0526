DROP TABLE ledger_checkpoints;
DROP TABLE ledger_idempotency;
DROP TABLE ledger_usage;
DROP INDEX ledger_entries_recorded;
DROP INDEX ledger_entries_kind;
DROP INDEX ledger_entries_dataset;
ALTER TABLE ledger_entries DROP COLUMN actor_user_id;
