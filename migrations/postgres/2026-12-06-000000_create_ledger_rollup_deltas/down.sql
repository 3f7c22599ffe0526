DROP VIEW ledger_rollups_current;
DROP TABLE ledger_rollup_deltas;
