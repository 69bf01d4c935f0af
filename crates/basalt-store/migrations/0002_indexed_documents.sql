-- What a knowledge base's index holds from each data source: one row per source document, with
-- the fingerprint it was indexed at (object ETag plus its metadata sidecar's), so an ingestion
-- job re-indexes only added or changed documents and deletes the ones that disappeared. A row is
-- written only after the index has durably taken the document.
CREATE TABLE indexed_documents (
    data_source_id TEXT NOT NULL,
    uri            TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    chunks         INTEGER NOT NULL,
    indexed_at     TEXT NOT NULL,
    PRIMARY KEY (data_source_id, uri)
);
