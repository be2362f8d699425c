-- Upstream requests and their cost, stored on the run (issue 11).
--
-- upstream_requests: {"<provider>": {"best_sellers": n, "ebay_page": n, "retry": n, "rate_limited": n}}
-- upstream_cost:     USD, priced per provider when the requests were made (429s are not billed).
-- ebay_pages_skipped: result pages not fetched because the page before had no listing inside the
--                     price window or ended the exact matches.

ALTER TABLE collection_runs
    ADD COLUMN upstream_requests jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN upstream_cost numeric(14, 6) NOT NULL DEFAULT 0,
    ADD COLUMN ebay_pages_skipped integer NOT NULL DEFAULT 0;
