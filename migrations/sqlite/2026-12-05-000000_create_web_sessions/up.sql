-- Signed-in sessions of the web portal. The browser holds a random secret in a cookie; only
-- its hash is kept here, so the table cannot be used to sign in. Signing out revokes the row.
CREATE TABLE web_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
