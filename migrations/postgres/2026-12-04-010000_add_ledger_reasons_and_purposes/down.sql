ALTER TABLE ledger_entries DROP COLUMN purpose, DROP COLUMN reason;
