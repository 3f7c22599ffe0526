-- E-mail waiting for delivery (pdx-access's mailer): queued in the transaction that makes the
-- message's reason (a confirmation link, an invitation, a password reset), so a message is
-- sent if and only if that is committed, and kept until delivered, whichever server process
-- delivers it and however often processes stop. The message is sealed under the server's
-- `mail_outbox` key with its id as associated data: its recipient and one-time link are not
-- readable here. A process claims a message (`claimed_by`, `claimed_until`) before sending
-- it; a claim whose process died lapses and another process takes the message over.
CREATE TABLE mail_outbox (
    id TEXT PRIMARY KEY,
    sealed TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_by TEXT,
    claimed_until TIMESTAMP,
    last_error TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at);
