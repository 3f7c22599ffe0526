DROP TABLE leases;
DROP TABLE server_keys;
