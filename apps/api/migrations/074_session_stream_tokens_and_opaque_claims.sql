-- Two gaps an attacker's probe found (issue 18).
--
-- A stream token issued through a browser session belongs to that session: ending the session
-- (sign-out deletes its row) deletes the token, and an expired session refuses it. Tokens issued
-- for a Bearer token have no session (NULL) and live their minute as before.
ALTER TABLE stream_tokens
    ADD COLUMN session_id uuid REFERENCES auth_sessions (id) ON DELETE CASCADE;
CREATE INDEX stream_tokens_session_id_idx ON stream_tokens (session_id) WHERE session_id IS NOT NULL;

-- Schedule fires named the process that claimed them by host name and process id, which any
-- reader of the fires could see. Servers now record an opaque id; earlier fires get one too,
-- derived from the old value so that fires of one process still share it.
UPDATE schedule_fires SET claimed_by = 'server-' || left(md5(claimed_by), 8) WHERE claimed_by NOT LIKE 'server-%';
