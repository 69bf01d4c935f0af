-- Every Bedrock resource basalt keeps (knowledge bases, data sources, ingestion jobs, ...) is one
-- row: its kind, id, the parent it belongs to, its name (unique per parent, as Bedrock requires),
-- the client token of the call that created it (idempotent retries), and its JSON document.
CREATE TABLE resources (
    kind         TEXT NOT NULL,
    id           TEXT NOT NULL,
    parent_id    TEXT NOT NULL DEFAULT '',
    name         TEXT NOT NULL,
    client_token TEXT,
    document     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);

CREATE UNIQUE INDEX resources_by_name ON resources (kind, parent_id, name);
CREATE UNIQUE INDEX resources_by_client_token ON resources (kind, client_token)
    WHERE client_token IS NOT NULL;
CREATE INDEX resources_by_parent ON resources (kind, parent_id, id);
