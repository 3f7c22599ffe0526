-- The reason and the declared purpose of each entry as columns, so that an auditor's search
-- filters on them (bursts of one denial reason, requests for one purpose) without reading
-- every entry's body (searches filter them within a time range and kind, which are indexed;
-- no index of their own, so appends stay as cheap as before). Entries written before are filled
-- in from their bodies.
ALTER TABLE ledger_entries ADD COLUMN reason TEXT, ADD COLUMN purpose TEXT;
UPDATE ledger_entries
SET reason = body::jsonb ->> 'reason', purpose = body::jsonb ->> 'purpose';
