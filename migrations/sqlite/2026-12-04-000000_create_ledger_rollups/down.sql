DROP TABLE ledger_rollup_state;
DROP TABLE ledger_rollups;
