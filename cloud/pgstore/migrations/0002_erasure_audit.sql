-- Version 2: erasure (a record's body deleted at its patient's request,
-- its row kept as a tombstone: the records log's leaf is its ID) and the
-- audit trail's new fields of an access entry.

ALTER TABLE cloud_records ADD COLUMN erased boolean NOT NULL DEFAULT false;
-- A patient's records, for erasure.
CREATE INDEX cloud_records_patient ON cloud_records (patient, idx);

-- What was done (read, alert, list, erase; '' for reads logged before),
-- the signed request that asked for it (NULL before), and how many
-- records an erasure erased.
ALTER TABLE cloud_access ADD COLUMN op text NOT NULL DEFAULT '';
ALTER TABLE cloud_access ADD COLUMN request bytea;
ALTER TABLE cloud_access ADD COLUMN erased bigint NOT NULL DEFAULT 0 CHECK (erased >= 0);
