ALTER TABLE grants DROP COLUMN column_rules;
ALTER TABLE offers DROP COLUMN column_rules;
