-- Notifications: webhooks and e-mail recipients per org, and a transactional outbox of deliveries.
--
-- A run's status change (or a schedule's skipped / missed fire) inserts its event and one delivery
-- per matching subscription in the same transaction as the change, so an event is never lost and
-- never sent for a change that rolled back. Every server process claims due deliveries with
-- FOR UPDATE SKIP LOCKED and holds the row lock while it sends, so each is sent by one process; a
-- process that dies mid-send releases the lock with its connection and another one sends it.
-- Each try is recorded in notification_attempts (the delivery log).

CREATE TABLE notification_subscriptions (
    -- Made by the application: a webhook's secret is sealed with its subscription's id.
    id               uuid PRIMARY KEY,
    org_id           uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind IN ('webhook', 'email')),
    url              text CHECK (char_length(url) <= 2048),
    address          text CHECK (char_length(address) <= 254),
    description      text CHECK (char_length(description) <= 200),
    events           text[] NOT NULL CHECK (cardinality(events) > 0),
    -- The webhook's signing secret, encrypted (AES-GCM: nonce, then ciphertext and tag), and the key it
    -- was encrypted with. Never returned after creation.
    secret_sealed    bytea,
    secret_key_id    text,
    enabled          boolean NOT NULL DEFAULT true,
    disabled_reason  text,
    -- Since when every try has failed (NULL after a success); 3 days of it disables the subscription.
    failing_since    timestamptz,
    last_success_at  timestamptz,
    created_by       uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notification_subscriptions_target_check CHECK (
        (kind = 'webhook' AND url IS NOT NULL AND address IS NULL
            AND secret_sealed IS NOT NULL AND secret_key_id IS NOT NULL)
        OR (kind = 'email' AND address IS NOT NULL AND url IS NULL AND secret_sealed IS NULL)
    )
);
CREATE INDEX notification_subscriptions_org_idx ON notification_subscriptions (org_id, kind, created_at);
CREATE UNIQUE INDEX notification_subscriptions_org_address_key
    ON notification_subscriptions (org_id, lower(address)) WHERE kind = 'email';

-- The key that encrypts webhook secrets when SELLERCOLLECTION_SECRET_KEY is unset (see README).
CREATE TABLE notification_keys (
    id          text PRIMARY KEY,
    key         bytea NOT NULL CHECK (octet_length(key) = 32),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notification_events (
    -- The payload's `id`: the same on every try of every delivery of the event.
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    type        text NOT NULL,
    data        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_events_created_idx ON notification_events (created_at);

CREATE TABLE notification_deliveries (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_id          uuid NOT NULL REFERENCES notification_events (id) ON DELETE CASCADE,
    subscription_id   uuid NOT NULL REFERENCES notification_subscriptions (id) ON DELETE CASCADE,
    org_id            uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    first_attempt_at  timestamptz,
    finished_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notification_deliveries_event_subscription_key UNIQUE (event_id, subscription_id)
);
CREATE INDEX notification_deliveries_due_idx ON notification_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notification_deliveries_subscription_idx ON notification_deliveries (subscription_id)
    WHERE status = 'pending';

CREATE TABLE notification_attempts (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    delivery_id      uuid REFERENCES notification_deliveries (id) ON DELETE SET NULL,
    subscription_id  uuid REFERENCES notification_subscriptions (id) ON DELETE SET NULL,
    event_id         uuid NOT NULL,
    event_type       text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('webhook', 'email')),
    -- The URL or address tried, kept after its subscription is deleted.
    target           text NOT NULL,
    attempt          integer NOT NULL CHECK (attempt >= 1),
    outcome          text NOT NULL CHECK (outcome IN ('delivered', 'retrying', 'failed')),
    status_code      integer,
    duration_ms      integer NOT NULL CHECK (duration_ms >= 0),
    error            text,
    response_body    text CHECK (octet_length(response_body) <= 1024),
    next_attempt_at  timestamptz,
    sent_by          text NOT NULL,
    attempted_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_attempts_org_idx ON notification_attempts (org_id, attempted_at DESC, id DESC);
CREATE INDEX notification_attempts_attempted_idx ON notification_attempts (attempted_at);
