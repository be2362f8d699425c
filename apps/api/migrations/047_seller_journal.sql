-- Exact seller counts and an ordered journal of seller-list changes, maintained by triggers.
--
-- Every statement that adds, removes or renames sellers first updates its org's row in
-- org_seller_counts, which holds that row's lock until commit. Seller-list changes of one org
-- therefore commit one at a time, so:
--   * the count read back in the same transaction is exactly the count after this change, and
--   * journal ids (taken after the lock) follow commit order, so "the list right after entry E"
--     is the journal replayed up to E's journal_seq.
-- A collection run marks its journal rows by setting `sellercollection.run_id` for the transaction.

CREATE TABLE org_seller_counts (
    org_id       uuid PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    n            bigint NOT NULL DEFAULT 0 CHECK (n >= 0),
    journal_seq  bigint NOT NULL DEFAULT 0
);

CREATE TABLE seller_journal (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id            uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    seller_id         uuid NOT NULL,  -- no FK: the journal outlives deleted sellers
    op                text NOT NULL CHECK (op IN ('add', 'remove', 'rename')),
    display_name      text NOT NULL,
    old_display_name  text,
    run_id            uuid REFERENCES collection_runs (id) ON DELETE SET NULL,
    xact_id           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX seller_journal_org_seller_idx ON seller_journal (org_id, seller_id, id);
CREATE INDEX seller_journal_xact_idx ON seller_journal (xact_id);
CREATE INDEX seller_journal_run_idx ON seller_journal (run_id) WHERE run_id IS NOT NULL;

ALTER TABLE seller_audit_log
    ADD COLUMN journal_seq bigint,
    ADD COLUMN xact_id xid8 NOT NULL DEFAULT pg_current_xact_id();
ALTER TABLE collection_runs ADD COLUMN journal_seq bigint;

CREATE FUNCTION sellercollection_run_id() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('sellercollection.run_id', true), '')::uuid
$$;

CREATE FUNCTION sellers_journal_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO org_seller_counts AS c (org_id, n)
    SELECT org_id, count(*) FROM new_rows GROUP BY org_id ORDER BY org_id
    ON CONFLICT (org_id) DO UPDATE SET n = c.n + EXCLUDED.n;
    WITH j AS (
        INSERT INTO seller_journal (org_id, seller_id, op, display_name, run_id)
        SELECT org_id, id, 'add', display_name, sellercollection_run_id()
        FROM new_rows ORDER BY org_id, normalized_name
        RETURNING org_id, id
    )
    UPDATE org_seller_counts c SET journal_seq = m.seq
    FROM (SELECT org_id, max(id) AS seq FROM j GROUP BY org_id) m WHERE c.org_id = m.org_id;
    RETURN NULL;
END $$;

CREATE FUNCTION sellers_journal_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE org_seller_counts c SET n = c.n - d.k
    FROM (SELECT org_id, count(*) AS k FROM old_rows GROUP BY org_id) d WHERE c.org_id = d.org_id;
    WITH j AS (
        INSERT INTO seller_journal (org_id, seller_id, op, display_name, run_id)
        SELECT org_id, id, 'remove', display_name, sellercollection_run_id()
        FROM old_rows ORDER BY org_id, normalized_name
        RETURNING org_id, id
    )
    UPDATE org_seller_counts c SET journal_seq = m.seq
    FROM (SELECT org_id, max(id) AS seq FROM j GROUP BY org_id) m WHERE c.org_id = m.org_id;
    RETURN NULL;
END $$;

CREATE FUNCTION sellers_journal_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Only renames change the list; flags, feedback and times_seen do not (and take no lock).
    IF NOT EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n USING (id) WHERE o.display_name <> n.display_name) THEN
        RETURN NULL;
    END IF;
    UPDATE org_seller_counts c SET n = c.n
    WHERE c.org_id IN (SELECT n.org_id FROM old_rows o JOIN new_rows n USING (id) WHERE o.display_name <> n.display_name);
    WITH j AS (
        INSERT INTO seller_journal (org_id, seller_id, op, display_name, old_display_name, run_id)
        SELECT n.org_id, n.id, 'rename', n.display_name, o.display_name, sellercollection_run_id()
        FROM old_rows o JOIN new_rows n USING (id)
        WHERE o.display_name <> n.display_name
        ORDER BY n.org_id, n.normalized_name
        RETURNING org_id, id
    )
    UPDATE org_seller_counts c SET journal_seq = m.seq
    FROM (SELECT org_id, max(id) AS seq FROM j GROUP BY org_id) m WHERE c.org_id = m.org_id;
    RETURN NULL;
END $$;

CREATE TRIGGER sellers_journal_insert AFTER INSERT ON sellers
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sellers_journal_insert();
CREATE TRIGGER sellers_journal_delete AFTER DELETE ON sellers
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION sellers_journal_delete();
CREATE TRIGGER sellers_journal_update AFTER UPDATE ON sellers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sellers_journal_update();

-- Sellers that existed before this migration enter the journal as one initial add each.
WITH j AS (
    INSERT INTO seller_journal (org_id, seller_id, op, display_name, run_id)
    SELECT org_id, id, 'add', display_name, first_seen_run_id FROM sellers ORDER BY org_id, created_at, id
    RETURNING org_id, id
)
INSERT INTO org_seller_counts (org_id, n, journal_seq)
SELECT org_id, count(*), max(id) FROM j GROUP BY org_id;

-- Name-ordered listing and prefix search (byte order, so a prefix is a contiguous range).
CREATE INDEX sellers_org_name_c_idx ON sellers (org_id, (normalized_name COLLATE "C"), id);
