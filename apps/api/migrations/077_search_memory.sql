-- Repeat runs search only what is new: the org's search memory (amazon_products, migration 070)
-- decides which products a run searches, and a run claims each product it will search.
--
-- A run fetches a best-seller list, then, in one statement per list, claims the products that are
-- due (new to the org, last searched more than `refresh_after_days` ago, or priced so that the
-- eBay price window no longer overlaps the last one): `claimed_run_id` / `claimed_at`, committed
-- before any search. A product claimed by another open run within `refresh_after_days` is not
-- due, so two runs started together never search it twice. A claim needs no release: once its
-- run is over (completed, failed, cancelled) it no longer holds, and a product whose search never
-- happened keeps its old `last_searched_at`, so the next run finds it due.
--
-- A product claimed but not yet searched has never been searched: its `last_searched_at` is
-- '-infinity' (older than any cutoff; the retention sweep may delete such a row, which only
-- costs the claim).

ALTER TABLE amazon_products
    ADD COLUMN claimed_run_id uuid,  -- no FK, as last_searched_run_id
    ADD COLUMN claimed_at timestamptz,
    ADD COLUMN listed_at timestamptz,
    -- The list that showed it last (category_id follows the run item's category, which a search
    -- writes back; this one only the list fetch writes).
    ADD COLUMN listed_category_id text;
COMMENT ON COLUMN amazon_products.claimed_run_id IS 'The run that claimed the product''s next search (void once that run is over)';
COMMENT ON COLUMN amazon_products.listed_at IS 'When a best-seller list fetched by the org last showed the product (the estimate reads the latest list per category)';
-- The estimate reads an org's latest list per category.
CREATE INDEX amazon_products_org_listed_idx ON amazon_products (org_id, listed_category_id, listed_at);

ALTER TABLE collection_runs
    ADD COLUMN refresh text NOT NULL DEFAULT 'new' CHECK (refresh IN ('new', 'all')),
    ADD COLUMN products_remembered integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN collection_runs.refresh IS 'new: search only products due under the search memory; all: every product';
COMMENT ON COLUMN collection_runs.products_remembered IS 'Products of the run''s lists left unsearched: searched recently (not in products_total)';

ALTER TABLE collection_settings
    ADD COLUMN refresh_after_days integer CHECK (refresh_after_days BETWEEN 1 AND 365);

ALTER TABLE amazon_category_presets
    ADD COLUMN refresh text NOT NULL DEFAULT 'new' CHECK (refresh IN ('new', 'all'));

-- NULL: the preset's choice (a schedule of categories: 'new').
ALTER TABLE collection_schedules
    ADD COLUMN refresh text CHECK (refresh IN ('new', 'all'));
