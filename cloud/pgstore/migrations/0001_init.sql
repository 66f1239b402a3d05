-- Version 1: the cloud's two Merkle logs, their rows, request nonces and
-- the sequencer's lease. Positions and sizes are bigint: a log holds fewer
-- than 2^63 entries.

-- The committed size of each log (0: records, 1: access).
CREATE TABLE cloud_logs (
	log  smallint PRIMARY KEY,
	size bigint   NOT NULL CHECK (size >= 0)
);
INSERT INTO cloud_logs (log, size) VALUES (0, 0), (1, 0);

-- The Merkle logs' nodes: leaf hashes (level 0) and complete subtrees.
CREATE TABLE cloud_nodes (
	log   smallint NOT NULL,
	level smallint NOT NULL,
	idx   bigint   NOT NULL,
	hash  bytea    NOT NULL,
	PRIMARY KEY (log, level, idx)
);

-- Records, by ID and by position in the records log; body is the record
-- as uploaded (ciphertext and cleartext header).
CREATE TABLE cloud_records (
	id       bytea    PRIMARY KEY,
	idx      bigint   NOT NULL UNIQUE,
	patient  bytea    NOT NULL,
	kind     smallint NOT NULL,
	received bigint   NOT NULL, -- Unix ms
	body     bytea    NOT NULL
);

-- The access log: every read of a record, and every refused one.
CREATE TABLE cloud_access (
	idx       bigint  PRIMARY KEY,
	at        bigint  NOT NULL, -- Unix ms
	requester bytea   NOT NULL,
	patient   bytea   NOT NULL,
	record    bytea   NOT NULL,
	allowed   boolean NOT NULL,
	reason    text    NOT NULL
);
CREATE INDEX cloud_access_patient ON cloud_access (patient, idx);

-- Nonces of signed requests, kept until the requests expire.
CREATE TABLE cloud_nonces (
	requester bytea  NOT NULL,
	nonce     bytea  NOT NULL,
	expires   bigint NOT NULL, -- Unix ms
	PRIMARY KEY (requester, nonce)
);
CREATE INDEX cloud_nonces_expires ON cloud_nonces (expires);

-- The sequencer's lease: one row. epoch grows with every new holder;
-- expires is on the database's clock.
CREATE TABLE cloud_lease (
	id      smallint    PRIMARY KEY CHECK (id = 1),
	epoch   bigint      NOT NULL,
	holder  text        NOT NULL,
	url     text        NOT NULL,
	expires timestamptz NOT NULL
);
INSERT INTO cloud_lease (id, epoch, holder, url, expires) VALUES (1, 0, '', '', '-infinity');

-- cloud_advance moves a log from p_old to p_new entries, in the append's
-- transaction, or raises: VC001 if the log is not at p_old, VC002 if
-- p_epoch is given and the lease is at another epoch. The lease row is
-- locked FOR SHARE until the append commits, so that a takeover (an UPDATE
-- of that row) waits for it, and every append after the takeover sees the
-- new epoch.
CREATE FUNCTION cloud_advance(p_log smallint, p_old bigint, p_new bigint, p_epoch bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	cur bigint;
	ep  bigint;
BEGIN
	IF p_epoch IS NOT NULL THEN
		SELECT epoch INTO ep FROM cloud_lease WHERE id = 1 FOR SHARE;
		IF ep IS DISTINCT FROM p_epoch THEN
			RAISE EXCEPTION 'the lease is at epoch %, not %', ep, p_epoch USING ERRCODE = 'VC002';
		END IF;
	END IF;
	UPDATE cloud_logs SET size = p_new WHERE log = p_log AND size = p_old;
	IF NOT FOUND THEN
		SELECT size INTO cur FROM cloud_logs WHERE log = p_log;
		RAISE EXCEPTION 'log % has size %, not %', p_log, cur, p_old USING ERRCODE = 'VC001';
	END IF;
END
$$;
