-- The reason and the declared purpose of each entry as columns, so that an auditor's search
-- filters on them (bursts of one denial reason, requests for one purpose) without reading
-- every entry's body. Entries written before are filled in from their bodies.
ALTER TABLE ledger_entries ADD COLUMN reason TEXT;
ALTER TABLE ledger_entries ADD COLUMN purpose TEXT;
UPDATE ledger_entries
SET reason = json_extract(body, '$.reason'), purpose = json_extract(body, '$.purpose');
CREATE INDEX ledger_entries_reason ON ledger_entries (reason);
CREATE INDEX ledger_entries_recorded_org ON ledger_entries (organization_id, recorded_at);
