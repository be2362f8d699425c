-- One product's outcome committed in a single round trip: item done, sellers upserted, counters.
--
-- Workers spend most of a run waiting on the upstream; the commit between two requests sits on
-- the critical path, and on a busy host each extra client round trip costs a backend wake-up.
-- Doing the whole step server-side keeps the same transaction, lock order (item, sellers by key,
-- org count row via trigger, run row) and exact new/known counts as the client-side version.

CREATE FUNCTION store_product_sellers(
    p_item_id bigint,
    p_run_id uuid,
    p_org_id uuid,
    p_result jsonb,
    p_display text[],
    p_norm text[],
    p_pid text[],
    p_score integer[],
    p_pct numeric[]
) RETURNS TABLE (seller_key text, is_new_seller boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_new text[];
    v_known text[];
BEGIN
    UPDATE collection_items
    SET status = 'completed', result = p_result, last_error = NULL, completed_at = now(), updated_at = now()
    WHERE id = p_item_id AND status IN ('pending', 'processing', 'failed');
    IF NOT FOUND THEN
        RETURN;  -- already finished (by an executor that lost its lease): count nothing twice
    END IF;
    -- The journal trigger attributes this transaction's seller changes to the run.
    PERFORM set_config('sellercollection.run_id', p_run_id::text, true);
    WITH up AS (
        INSERT INTO sellers AS s (org_id, display_name, normalized_name, platform, platform_id,
                                  feedback_score, feedback_percent, first_seen_run_id, last_seen_run_id)
        SELECT p_org_id, u.display_name, u.normalized_name, 'ebay', u.platform_id,
               u.feedback_score, u.feedback_percent, p_run_id, p_run_id
        FROM unnest(p_display, p_norm, p_pid, p_score, p_pct)
             AS u(display_name, normalized_name, platform_id, feedback_score, feedback_percent)
        ORDER BY u.normalized_name
        ON CONFLICT (org_id, platform, normalized_name) DO UPDATE SET
            times_seen = s.times_seen + 1,
            last_seen_run_id = EXCLUDED.last_seen_run_id,
            feedback_score = coalesce(EXCLUDED.feedback_score, s.feedback_score),
            feedback_percent = coalesce(EXCLUDED.feedback_percent, s.feedback_percent),
            platform_id = coalesce(s.platform_id, EXCLUDED.platform_id),
            updated_at = now()
        RETURNING s.normalized_name AS name, (s.xmax = 0) AS is_new
    )
    SELECT array_agg(name) FILTER (WHERE is_new), array_agg(name) FILTER (WHERE NOT is_new)
    INTO v_new, v_known
    FROM up;
    UPDATE collection_runs
    SET products_searched = products_searched + 1,
        sellers_found = sellers_found + coalesce(cardinality(p_norm), 0),
        sellers_new = sellers_new + coalesce(cardinality(v_new), 0),
        updated_at = now()
    WHERE id = p_run_id;
    RETURN QUERY
        SELECT n, true FROM unnest(v_new) AS n
        UNION ALL
        SELECT n, false FROM unnest(v_known) AS n;
END $$;
