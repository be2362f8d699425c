-- Bulk seller changes in time linear in their size.
--
-- 1. The journal's update trigger fires on every UPDATE of sellers (flags too: PostgreSQL allows
--    no column list on a trigger with transition tables) and joins its two transition tables.
--    PL/pgSQL keeps the plan it made on a connection's first call, when the transition tables
--    held a row or two: a nested loop, which a 10k-row flag then ran as 10k x 10k comparisons.
--    With nested loops off for this function, the join is hashed whatever the first call's size.
-- 2. Deleting a seller sets seller_audit_log.seller_id to NULL through the foreign key, one
--    lookup per deleted seller; without an index each lookup scanned the whole audit log.

ALTER FUNCTION sellers_journal_update() SET enable_nestloop = off;

CREATE INDEX seller_audit_log_seller_idx ON seller_audit_log (seller_id) WHERE seller_id IS NOT NULL;
