ALTER TABLE datasets DROP COLUMN translations;
