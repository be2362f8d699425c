-- The org's seller list and its audit history.

CREATE TABLE sellers (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id             uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    display_name       text NOT NULL CHECK (btrim(display_name) <> ''),
    -- NFKC, lowercased, trimmed, inner whitespace collapsed; computed in app.services.normalize.
    normalized_name    text NOT NULL CHECK (normalized_name <> ''),
    platform           text NOT NULL DEFAULT 'ebay' CHECK (platform IN ('ebay')),
    platform_id        text,
    feedback_score     integer,
    feedback_percent   numeric(5, 2),
    times_seen         integer NOT NULL DEFAULT 1,
    flagged            boolean NOT NULL DEFAULT false,
    first_seen_run_id  uuid REFERENCES collection_runs (id) ON DELETE SET NULL,
    last_seen_run_id   uuid REFERENCES collection_runs (id) ON DELETE SET NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sellers_org_platform_name_key UNIQUE (org_id, platform, normalized_name)
);
CREATE INDEX sellers_org_created_idx ON sellers (org_id, created_at DESC, id DESC);
CREATE INDEX sellers_org_flagged_idx ON sellers (org_id, created_at DESC, id DESC) WHERE flagged;
CREATE INDEX sellers_first_seen_run_idx ON sellers (first_seen_run_id) WHERE first_seen_run_id IS NOT NULL;

CREATE TABLE seller_audit_log (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    action          text NOT NULL CHECK (action IN ('add', 'edit', 'remove', 'flag', 'export')),
    seller_id       uuid REFERENCES sellers (id) ON DELETE SET NULL,
    seller_name     text NOT NULL,
    old_value       jsonb CHECK (old_value IS NULL OR jsonb_typeof(old_value) = 'object'),
    new_value       jsonb CHECK (new_value IS NULL OR jsonb_typeof(new_value) = 'object'),
    source          text NOT NULL DEFAULT 'manual' CHECK (source IN ('manual', 'collection_run')),
    source_run_id   uuid REFERENCES collection_runs (id) ON DELETE SET NULL,
    user_id         uuid REFERENCES users (id) ON DELETE SET NULL,
    affected_count  integer NOT NULL DEFAULT 1 CHECK (affected_count >= 0),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX seller_audit_log_org_created_idx ON seller_audit_log (org_id, created_at DESC, id DESC);
CREATE INDEX seller_audit_log_org_action_created_idx ON seller_audit_log (org_id, action, created_at DESC);
CREATE INDEX seller_audit_log_source_run_idx ON seller_audit_log (source_run_id) WHERE source_run_id IS NOT NULL;
