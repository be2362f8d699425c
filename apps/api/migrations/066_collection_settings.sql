-- Per-org collection settings, and what each run was created from and ran with.
--
-- A NULL column means "the server's default" (the Settings value), so changing a server default
-- reaches every org that never chose otherwise. Runs copy the effective values when created
-- (`settings`), so a later change never alters a run already made, and history shows them.

CREATE TABLE collection_settings (
    org_id                  uuid PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    max_open_runs           integer CHECK (max_open_runs BETWEEN 1 AND 50),
    provider                text CHECK (provider IN ('auto', 'demo', 'oxylabs')),
    ebay_pages_per_product  integer CHECK (ebay_pages_per_product BETWEEN 1 AND 10),
    price_min_multiplier    numeric(6, 3) CHECK (price_min_multiplier > 0),
    price_max_multiplier    numeric(6, 3) CHECK (price_max_multiplier > 0),
    workers                 integer CHECK (workers BETWEEN 1 AND 5),
    updated_by              uuid REFERENCES users (id) ON DELETE SET NULL,
    updated_at              timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE collection_runs
    ADD COLUMN trigger text NOT NULL DEFAULT 'manual' CHECK (trigger IN ('manual', 'schedule')),
    ADD COLUMN preset_id uuid REFERENCES amazon_category_presets (id) ON DELETE SET NULL,
    -- The effective settings the run was created with (NULL on runs older than this migration:
    -- those run with the server's settings).
    ADD COLUMN settings jsonb;
