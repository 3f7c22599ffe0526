-- The server processes running on this database (pdx-storage's presence): each announces
-- itself about once a second, so that work shared out among them (an upstream's calls at
-- once) is split by how many run. A process not seen for a while has stopped.
CREATE TABLE server_processes (
    name TEXT PRIMARY KEY NOT NULL,
    started_at TIMESTAMP NOT NULL,
    seen_at TIMESTAMP NOT NULL
);
