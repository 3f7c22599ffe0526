DROP TABLE upstream_circuits;
