-- Collection runs and their durable work items (one row per category and per product).

CREATE TABLE collection_runs (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id                uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name                  text NOT NULL,
    status                text NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'running', 'paused', 'completed', 'failed', 'cancelled')),
    phase                 text NOT NULL DEFAULT 'amazon' CHECK (phase IN ('amazon', 'ebay', 'done')),
    category_ids          text[] NOT NULL CHECK (cardinality(category_ids) > 0),
    provider              text NOT NULL DEFAULT 'demo',
    categories_total      integer NOT NULL DEFAULT 0,
    categories_completed  integer NOT NULL DEFAULT 0,
    products_total        integer NOT NULL DEFAULT 0,
    products_searched     integer NOT NULL DEFAULT 0,
    sellers_found         integer NOT NULL DEFAULT 0,
    sellers_new           integer NOT NULL DEFAULT 0,
    failed_items          integer NOT NULL DEFAULT 0,
    status_reason         text,
    checkpoint            jsonb,
    created_by            uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    started_at            timestamptz,
    paused_at             timestamptz,
    completed_at          timestamptz,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    -- Executor lease: exactly one process executes a running run; a stale heartbeat frees it.
    lease_owner           text,
    lease_expires_at      timestamptz
);
CREATE INDEX collection_runs_org_created_idx ON collection_runs (org_id, created_at DESC, id DESC);
CREATE INDEX collection_runs_org_open_idx ON collection_runs (org_id)
    WHERE status IN ('pending', 'running', 'paused');
CREATE INDEX collection_runs_org_finished_idx ON collection_runs (org_id, completed_at DESC, id DESC)
    WHERE status IN ('completed', 'failed', 'cancelled');
CREATE INDEX collection_runs_running_lease_idx ON collection_runs (lease_expires_at)
    WHERE status = 'running';

CREATE TABLE collection_items (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id        uuid NOT NULL REFERENCES collection_runs (id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('category', 'product')),
    external_id   text NOT NULL,
    payload       jsonb NOT NULL DEFAULT '{}'::jsonb,
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'skipped')),
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    worker_id     integer,
    result        jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    completed_at  timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT collection_items_run_kind_external_key UNIQUE (run_id, kind, external_id)
);
CREATE INDEX collection_items_run_kind_status_idx ON collection_items (run_id, kind, status);
