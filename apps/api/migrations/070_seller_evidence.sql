-- Why each seller is on the list: the eBay listings a run read (evidence), the Amazon products
-- whose searches found them, and each seller's profile and dropshipper score.
--
-- Storage stays small: an evidence row holds what is particular to the listing (its item id,
-- title, price, where it is, when it was seen, the Amazon price it was compared with); the
-- product's text lives once per org in amazon_products, which is also the org's search memory
-- (when each product was last searched, and with which price window). A listing's URL is stored
-- only when it is not the one its item id gives (https://www.ebay.com/itm/<id>).
--
-- Profiles are recomputed off the item's critical path: the store step queues each seller it
-- touched (one row in seller_profile_queue per seller and store step); a recompute pass reads a
-- batch of queued sellers and their evidence in one statement (one snapshot), and deletes exactly
-- the queue rows it read. A store step that commits after that snapshot leaves its own queue row
-- behind, so its evidence is picked up by the next pass: nothing is lost, and no lock is shared.

CREATE TABLE amazon_products (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id                uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    asin                  text NOT NULL,
    title                 text NOT NULL,
    price                 numeric(12, 2),
    currency              text,
    category_id           text,
    best_seller_rank      integer,
    last_searched_at      timestamptz NOT NULL DEFAULT now(),
    last_searched_run_id  uuid,  -- no FK: runs go only with their org, and this row with it
    search_price_low      numeric(12, 2),
    search_price_high     numeric(12, 2),
    CONSTRAINT amazon_products_org_asin_key UNIQUE (org_id, asin)
);
COMMENT ON COLUMN amazon_products.last_searched_at IS 'When the org last searched eBay for this product (search memory)';
COMMENT ON COLUMN amazon_products.search_price_low IS 'The eBay price window of that search, low end (dollars)';

-- product_id has no foreign key, on purpose: a listing is seen only when its product is searched,
-- so a product's last_searched_at is never older than its evidence's last_seen_at, and the
-- retention sweep deletes a product only after all of its evidence. A key would cost every
-- evidence row a lookup and a lock of its product row, and an index to delete products by.
CREATE TABLE seller_evidence (
    ebay_item_id   bigint NOT NULL CHECK (ebay_item_id > 0),
    product_id     bigint NOT NULL,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    seller_id      uuid NOT NULL REFERENCES sellers (id) ON DELETE CASCADE,
    run_id         uuid NOT NULL,  -- the run that last read the listing; no FK, as above
    ebay_price     numeric(12, 2),
    amazon_price   numeric(12, 2),
    title_match    numeric(4, 3) CHECK (title_match BETWEEN 0 AND 1),
    in_window      boolean,
    currency       text,
    location       text,
    url            text,
    ebay_title     text NOT NULL,
    PRIMARY KEY (seller_id, ebay_item_id)
);
-- The retention sweep.
CREATE INDEX seller_evidence_last_seen_idx ON seller_evidence (last_seen_at);
COMMENT ON COLUMN seller_evidence.title_match IS 'rapidfuzz partial_ratio of the normalised eBay and Amazon titles, 0..1 (services/sellers/title_match.py)';
COMMENT ON COLUMN seller_evidence.in_window IS 'The eBay price was inside the price window searched';
COMMENT ON COLUMN seller_evidence.url IS 'Only when not https://www.ebay.com/itm/<ebay_item_id>';

-- Sellers whose evidence changed since their profile was computed: one row per seller and store step,
-- with the run that saw it (the profile keeps the runs, so recurrence is exact when runs overlap).
-- No foreign key: this sits on every store step's path, and the refresh drops the rows of a seller
-- deleted meanwhile.
-- One index serves every use (queue rows are found by org and seller, and deleted by id).
CREATE TABLE seller_profile_queue (
    id         bigint GENERATED ALWAYS AS IDENTITY,
    org_id     uuid NOT NULL,
    seller_id  uuid NOT NULL,
    run_id     uuid
);
CREATE INDEX seller_profile_queue_org_seller_idx ON seller_profile_queue (org_id, seller_id, id);

ALTER TABLE sellers
    ADD COLUMN score smallint CHECK (score BETWEEN 0 AND 100),
    ADD COLUMN products_matched integer,
    ADD COLUMN median_markup numeric(8, 3);
COMMENT ON COLUMN sellers.score IS 'Dropshipper score 0..100 (null: no evidence); its reasons are in seller_profiles';
-- sort=score: highest first, sellers without a score last, ties by id.
CREATE INDEX sellers_org_score_idx ON sellers (org_id, (coalesce(score, -1)) DESC, id DESC);

CREATE TABLE seller_profiles (
    seller_id           uuid PRIMARY KEY REFERENCES sellers (id) ON DELETE CASCADE,
    listings_seen       integer NOT NULL,
    category_ids        text[] NOT NULL,
    median_title_match  numeric(4, 3),
    markup_in_window    numeric(4, 3),
    markup_spread       numeric(6, 3),
    run_ids             uuid[] NOT NULL,
    first_seen_at       timestamptz NOT NULL,
    last_seen_at        timestamptz NOT NULL,
    score_reasons       jsonb NOT NULL CHECK (jsonb_typeof(score_reasons) = 'array'),
    computed_at         timestamptz NOT NULL DEFAULT now()
);
COMMENT ON COLUMN seller_profiles.markup_spread IS 'Interquartile range of the markups divided by their median';
COMMENT ON COLUMN seller_profiles.run_ids IS 'The runs that found the seller (recurrence)';

-- One product's outcome in a single round trip, as store_product_sellers() (migration 048), plus
-- the evidence: the product is upserted into the org's memory, each listing read with a seller is
-- upserted by (seller, item) (first_seen kept, last_seen moved), and each seller is queued for a
-- new profile, with this run. Lock order: item, sellers by key, org count row (trigger), product,
-- evidence by (seller, item), run row. Version 1 stays for processes of the previous release
-- during an upgrade.
--
-- The sellers, the product and the listings come as three JSON documents rather than a dozen
-- typed arrays: on the worker's path, adapting arrays (numeric ones above all) cost the client
-- more than the whole statement costs the server.
--   p_sellers:  [{display_name, normalized_name, platform_id, feedback_score, feedback_percent}]
--   p_product:  {asin, title, price, currency, category_id, rank, window_low, window_high}
--   p_listings: [{seller_key, item, title, price, currency, location, url, match, in_window}]
CREATE FUNCTION store_product_sellers_v2(
    p_item_id bigint,
    p_run_id uuid,
    p_org_id uuid,
    p_result jsonb,
    p_sellers jsonb,
    p_product jsonb,
    p_listings jsonb
) RETURNS TABLE (seller_key text, is_new_seller boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_new text[];
    v_known text[];
    v_ids uuid[];
    v_keys text[];
    v_product bigint;
    v_price numeric := (p_product ->> 'price')::numeric;
BEGIN
    UPDATE collection_items
    SET status = 'completed', result = p_result, last_error = NULL, completed_at = now(), updated_at = now()
    WHERE id = p_item_id AND status IN ('pending', 'processing', 'failed');
    IF NOT FOUND THEN
        RETURN;  -- already finished (by an executor that lost its lease): count nothing twice
    END IF;
    PERFORM set_config('sellercollection.run_id', p_run_id::text, true);
    WITH up AS (
        INSERT INTO sellers AS s (org_id, display_name, normalized_name, platform, platform_id,
                                  feedback_score, feedback_percent, first_seen_run_id, last_seen_run_id)
        SELECT p_org_id, u.display_name, u.normalized_name, 'ebay', u.platform_id,
               u.feedback_score, u.feedback_percent, p_run_id, p_run_id
        FROM jsonb_to_recordset(p_sellers)
             AS u(display_name text, normalized_name text, platform_id text, feedback_score integer,
                  feedback_percent numeric)
        ORDER BY u.normalized_name
        ON CONFLICT (org_id, platform, normalized_name) DO UPDATE SET
            times_seen = s.times_seen + 1,
            last_seen_run_id = EXCLUDED.last_seen_run_id,
            feedback_score = coalesce(EXCLUDED.feedback_score, s.feedback_score),
            feedback_percent = coalesce(EXCLUDED.feedback_percent, s.feedback_percent),
            platform_id = coalesce(s.platform_id, EXCLUDED.platform_id),
            updated_at = now()
        RETURNING s.id, s.normalized_name AS name, (s.xmax = 0) AS is_new
    )
    SELECT array_agg(name) FILTER (WHERE is_new), array_agg(name) FILTER (WHERE NOT is_new),
           array_agg(id), array_agg(name)
    INTO v_new, v_known, v_ids, v_keys
    FROM up;
    IF v_ids IS NOT NULL THEN
        INSERT INTO seller_profile_queue (org_id, seller_id, run_id) SELECT p_org_id, i, p_run_id FROM unnest(v_ids) AS i;
    END IF;
    -- The product joins the org's memory, searched now, whether or not a listing is kept.
    INSERT INTO amazon_products AS p (org_id, asin, title, price, currency, category_id, best_seller_rank,
                                      last_searched_run_id, search_price_low, search_price_high)
    VALUES (p_org_id, p_product ->> 'asin', p_product ->> 'title', v_price, p_product ->> 'currency',
            p_product ->> 'category_id', (p_product ->> 'rank')::integer, p_run_id,
            (p_product ->> 'window_low')::numeric, (p_product ->> 'window_high')::numeric)
    ON CONFLICT (org_id, asin) DO UPDATE SET
        title = EXCLUDED.title, price = EXCLUDED.price, currency = EXCLUDED.currency,
        category_id = coalesce(EXCLUDED.category_id, p.category_id),
        best_seller_rank = EXCLUDED.best_seller_rank, last_searched_at = now(),
        last_searched_run_id = EXCLUDED.last_searched_run_id,
        search_price_low = EXCLUDED.search_price_low, search_price_high = EXCLUDED.search_price_high
    RETURNING p.id INTO v_product;
    INSERT INTO seller_evidence AS e (seller_id, ebay_item_id, product_id, run_id, ebay_title, ebay_price,
                                      currency, location, url, amazon_price, title_match, in_window)
    SELECT k.id, l.item, v_product, p_run_id, l.title, l.price, l.currency, l.location, l.url,
           v_price, l.match, l.in_window
    FROM jsonb_to_recordset(p_listings)
         AS l(seller_key text, item bigint, title text, price numeric, currency text, location text, url text,
              match numeric, in_window boolean)
    JOIN unnest(v_ids, v_keys) AS k(id, key) ON k.key = l.seller_key
    ORDER BY k.id, l.item
    ON CONFLICT (seller_id, ebay_item_id) DO UPDATE SET
        product_id = EXCLUDED.product_id, run_id = EXCLUDED.run_id, last_seen_at = now(),
        ebay_title = EXCLUDED.ebay_title, ebay_price = EXCLUDED.ebay_price, currency = EXCLUDED.currency,
        location = coalesce(EXCLUDED.location, e.location), url = EXCLUDED.url,
        amazon_price = EXCLUDED.amazon_price, title_match = EXCLUDED.title_match,
        in_window = EXCLUDED.in_window;
    UPDATE collection_runs
    SET products_searched = products_searched + 1,
        sellers_found = sellers_found + jsonb_array_length(p_sellers),
        sellers_new = sellers_new + coalesce(cardinality(v_new), 0),
        updated_at = now()
    WHERE id = p_run_id;
    RETURN QUERY
        SELECT n, true FROM unnest(v_new) AS n
        UNION ALL
        SELECT n, false FROM unnest(v_known) AS n;
END $$;
