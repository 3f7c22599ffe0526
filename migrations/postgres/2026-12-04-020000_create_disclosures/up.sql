-- Whether an agency has made its annual disclosure report of a year public (anyone may then
-- read it). The report itself is computed from the catalog, the requests and the ledger.
CREATE TABLE disclosures (
    organization_id TEXT NOT NULL,
    year INTEGER NOT NULL,
    public BOOLEAN NOT NULL,
    changed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (organization_id, year)
);
