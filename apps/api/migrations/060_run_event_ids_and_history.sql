-- Several processes and restarts (issue 12).
--
-- event_seq_reserved: the highest activity-event id any process may have handed out for the run.
-- The executor reserves ids in blocks ahead of use, so after a kill -9 the next executor starts
-- above every id a client could have seen.
-- worker_lanes: the executing process's worker lanes, so progress asked of any process is live.
ALTER TABLE collection_runs
    ADD COLUMN event_seq_reserved bigint NOT NULL DEFAULT 0,
    ADD COLUMN worker_lanes jsonb,
    ADD COLUMN worker_lanes_at timestamptz;

-- A finished run's last events (SELLERCOLLECTION_ACTIVITY_HISTORY of them), replayed by the
-- activity endpoint once the live stream is gone.
CREATE TABLE collection_run_events (
    run_id  uuid NOT NULL REFERENCES collection_runs (id) ON DELETE CASCADE,
    seq     bigint NOT NULL,
    data    text NOT NULL,
    PRIMARY KEY (run_id, seq)
);
