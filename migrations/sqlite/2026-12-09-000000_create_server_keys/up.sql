-- Server keys that every server process shares without a shared disk (pdx-storage's vault):
-- the JWT signing keys, the ledger's checkpoint key and the keys of keyed hashes and sealed
-- credentials, each sealed (XChaCha20-Poly1305, base64 of nonce and ciphertext, the row's id
-- and purpose as associated data) under the master key named by master_key_id, which the
-- database never holds. A key signs or is used from active_from on.
CREATE TABLE server_keys (
    id TEXT PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    active_from TIMESTAMP NOT NULL,
    master_key_id TEXT NOT NULL,
    sealed TEXT NOT NULL
);
CREATE INDEX server_keys_by_purpose ON server_keys (purpose, active_from);

-- Work that one server process at a time does (signing checkpoints): held by `holder` until
-- `expires_at`, renewed while it lives, taken over by another process once it has expired.
CREATE TABLE leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    acquired_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
