-- Schedules (cron + IANA time zone) and a record of every fire: started, skipped, missed, failed.
--
-- Exactly-once firing: a server claims a due schedule with one conditional UPDATE that moves
-- `next_run_at` from the value it read to the next fire time; only one process can win that
-- race. The fire's outcome and its run are written in the same transaction as the claim, and
-- UNIQUE (schedule_id, fire_time) makes a double fire impossible even for a buggy caller.

CREATE TABLE collection_schedules (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name             text NOT NULL CHECK (btrim(name) <> '' AND char_length(name) <= 100),
    -- A schedule collects a preset (kept while the schedule uses it) or its own category list.
    preset_id        uuid REFERENCES amazon_category_presets (id) ON DELETE RESTRICT,
    category_ids     text[] CHECK (cardinality(category_ids) > 0),
    cron_expression  text NOT NULL,
    timezone         text NOT NULL,
    enabled          boolean NOT NULL DEFAULT true,
    next_run_at      timestamptz,
    last_run_at      timestamptz,
    last_run_id      uuid REFERENCES collection_runs (id) ON DELETE SET NULL,
    created_by       uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT collection_schedules_target_check CHECK ((preset_id IS NULL) <> (category_ids IS NULL)),
    CONSTRAINT collection_schedules_next_run_check CHECK (NOT enabled OR next_run_at IS NOT NULL)
);
CREATE UNIQUE INDEX collection_schedules_org_name_key ON collection_schedules (org_id, lower(name));
CREATE INDEX collection_schedules_due_idx ON collection_schedules (next_run_at) WHERE enabled;
CREATE INDEX collection_schedules_preset_idx ON collection_schedules (preset_id) WHERE preset_id IS NOT NULL;

CREATE TABLE schedule_fires (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    schedule_id  uuid NOT NULL REFERENCES collection_schedules (id) ON DELETE CASCADE,
    org_id       uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    fire_time    timestamptz NOT NULL,
    -- Fire times coalesced into this row (a 'missed' row may stand for many).
    fire_count   integer NOT NULL DEFAULT 1 CHECK (fire_count >= 1),
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    outcome      text NOT NULL CHECK (outcome IN ('started', 'skipped', 'missed', 'failed')),
    reason       text,
    run_id       uuid REFERENCES collection_runs (id) ON DELETE SET NULL,
    claimed_by   text NOT NULL,
    CONSTRAINT schedule_fires_schedule_time_key UNIQUE (schedule_id, fire_time)
);
CREATE INDEX schedule_fires_org_recorded_idx ON schedule_fires (org_id, recorded_at DESC, id DESC);

ALTER TABLE collection_runs
    ADD COLUMN schedule_id uuid REFERENCES collection_schedules (id) ON DELETE SET NULL;
