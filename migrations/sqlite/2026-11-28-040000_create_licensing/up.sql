-- Licence policies, offers per dataset, access requests and the grants they lead to.
ALTER TABLE licences ADD COLUMN policy TEXT NOT NULL DEFAULT '{"permissions":[{"action":"use"}]}';

CREATE TABLE offers (
    dataset_id TEXT PRIMARY KEY NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    licence_id TEXT NOT NULL REFERENCES licences (id),
    purposes TEXT NOT NULL,
    max_term_days INTEGER NOT NULL,
    max_requests BIGINT,
    max_bytes BIGINT,
    max_rows BIGINT,
    fee_per_request BIGINT NOT NULL,
    fee_per_mb BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE access_requests (
    id TEXT PRIMARY KEY NOT NULL,
    dataset_id TEXT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    purpose TEXT NOT NULL,
    statement TEXT NOT NULL,
    term_days INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('submitted', 'approved', 'rejected', 'withdrawn')),
    decided_by TEXT,
    decided_at TIMESTAMP,
    decision_reason TEXT,
    grant_id TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX access_requests_dataset ON access_requests (dataset_id, status);
CREATE INDEX access_requests_organization ON access_requests (organization_id);

CREATE TABLE grants (
    id TEXT PRIMARY KEY NOT NULL,
    dataset_id TEXT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    licence_id TEXT NOT NULL REFERENCES licences (id),
    request_id TEXT,
    valid_from TIMESTAMP NOT NULL,
    valid_until TIMESTAMP NOT NULL,
    purposes TEXT NOT NULL,
    max_requests BIGINT,
    max_bytes BIGINT,
    max_rows BIGINT,
    fee_per_request BIGINT NOT NULL,
    fee_per_mb BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'revoked')),
    status_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX grants_consumer ON grants (organization_id, dataset_id);
CREATE INDEX grants_dataset ON grants (dataset_id);
