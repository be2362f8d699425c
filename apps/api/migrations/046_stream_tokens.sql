-- Short-lived tokens that open one run's activity stream from a cross-origin EventSource,
-- which cannot send an Authorization header. Valid for about a minute, stored hashed.

CREATE TABLE stream_tokens (
    token_hash    bytea PRIMARY KEY,
    run_id        uuid NOT NULL REFERENCES collection_runs (id) ON DELETE CASCADE,
    api_token_id  uuid NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX stream_tokens_expires_at_idx ON stream_tokens (expires_at);
