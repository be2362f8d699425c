-- A run's active time and paused time, apart (issue 22).
--
-- finished_pauses_seconds: the length of every pause the run has come out of (the ongoing pause,
-- if any, runs from paused_at). running_since: when the run last became `running` (start or
-- resume), so "the recent rate" never reaches back into a pause.
--
-- Kept by a trigger on the status column rather than by each UPDATE that changes it: a run is
-- paused, resumed and stopped by the API, the executor, the failure breaker and the scheduler,
-- and every one of those paths must count the same way.
ALTER TABLE collection_runs
    ADD COLUMN finished_pauses_seconds double precision NOT NULL DEFAULT 0,
    ADD COLUMN running_since timestamptz;

COMMENT ON COLUMN collection_runs.finished_pauses_seconds IS
    'Seconds spent in pauses the run has left (the current pause runs from paused_at)';
COMMENT ON COLUMN collection_runs.running_since IS 'When the run last became running (started or resumed)';

CREATE FUNCTION collection_runs_track_pauses() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'paused' AND OLD.paused_at IS NOT NULL THEN
        NEW.finished_pauses_seconds := OLD.finished_pauses_seconds
            + greatest(0, extract(epoch FROM now() - OLD.paused_at));
    END IF;
    IF NEW.status = 'running' THEN
        NEW.running_since := now();
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER collection_runs_track_pauses
    BEFORE UPDATE OF status ON collection_runs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION collection_runs_track_pauses();

UPDATE collection_runs SET running_since = coalesce(started_at, created_at) WHERE status = 'running';
