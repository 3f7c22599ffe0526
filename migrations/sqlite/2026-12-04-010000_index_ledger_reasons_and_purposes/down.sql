DROP INDEX ledger_entries_recorded_org;
DROP INDEX ledger_entries_reason;
ALTER TABLE ledger_entries DROP COLUMN purpose;
ALTER TABLE ledger_entries DROP COLUMN reason;
