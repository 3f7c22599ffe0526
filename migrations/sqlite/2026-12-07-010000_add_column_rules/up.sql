-- Column rules of row queries (pdx-rows `ColumnRules`, JSON): which columns a grant delivers
-- as they are and how it masks the others. An offer's rules are copied into the grants issued
-- under it (a reviewer may set a grant's own); none: every column not marked sensitive.
ALTER TABLE offers ADD COLUMN column_rules TEXT;
ALTER TABLE grants ADD COLUMN column_rules TEXT;
