-- A run's seller-line coverage (issue 23): of the eBay listings its result pages showed, how many
-- had a seller line the parser could read.
--
-- Counted over the pages that were read (a page none of whose listings could be read is a
-- `layout` failure of its product instead, and pauses the run once such pages dominate).
-- Added about once a second together with the run's request counts, so a crash loses at most a
-- second of them, like those.
ALTER TABLE collection_runs
    ADD COLUMN listings_read integer NOT NULL DEFAULT 0,
    ADD COLUMN listings_with_seller integer NOT NULL DEFAULT 0;

COMMENT ON COLUMN collection_runs.listings_read IS 'eBay listings on the result pages the run read';
COMMENT ON COLUMN collection_runs.listings_with_seller IS 'Of listings_read, those with a readable seller line';
