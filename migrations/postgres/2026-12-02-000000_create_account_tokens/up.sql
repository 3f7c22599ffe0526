-- An account belongs to whoever controls its e-mail address. Accounts that existed before were
-- made by an operator (or the bootstrap), who vouched for the address: they count as confirmed.
ALTER TABLE users ADD COLUMN email_confirmed_at TIMESTAMP;
UPDATE users SET email_confirmed_at = created_at;

-- One-time tokens sent by e-mail: a self-registration awaiting confirmation (its fields in
-- `payload`), an invitation to join an organisation (`organization_id`, roles in `payload`),
-- a password reset (`user_id`). Only the keyed hash of a token is kept; a token works once
-- (`used_at`), until `expires_at`, unless revoked.
CREATE TABLE account_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL CHECK (purpose IN ('registration', 'invitation', 'password_reset')),
    token_hash TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    organization_id TEXT REFERENCES organizations (id) ON DELETE CASCADE,
    created_by TEXT,
    payload TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX account_tokens_email ON account_tokens (email, purpose);
CREATE INDEX account_tokens_organization ON account_tokens (organization_id);
