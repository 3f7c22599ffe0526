ALTER TABLE ledger_entries DROP COLUMN purpose;
ALTER TABLE ledger_entries DROP COLUMN reason;
