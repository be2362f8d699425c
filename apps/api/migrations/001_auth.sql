-- Orgs, users, memberships with permission keys, and opaque API tokens (stored hashed).

CREATE TABLE orgs (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (btrim(name) <> ''),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orgs_name_key UNIQUE (name)
);

CREATE TABLE users (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email       text NOT NULL CHECK (position('@' in email) > 1),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE memberships (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permission_keys  text[] NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT memberships_org_user_key UNIQUE (org_id, user_id)
);
CREATE INDEX memberships_user_id_idx ON memberships (user_id);

-- Tokens are random 256-bit secrets, so a fast hash (sha256) is enough: nothing to brute-force.
CREATE TABLE api_tokens (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    membership_id  uuid NOT NULL REFERENCES memberships (id) ON DELETE CASCADE,
    token_hash     bytea NOT NULL,
    prefix         text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz,
    revoked_at     timestamptz,
    CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX api_tokens_membership_id_idx ON api_tokens (membership_id);

-- Browser sessions derive from an API token: revoking the token ends its sessions too.
CREATE TABLE auth_sessions (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    session_hash  bytea NOT NULL,
    api_token_id  uuid NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    CONSTRAINT auth_sessions_session_hash_key UNIQUE (session_hash)
);
CREATE INDEX auth_sessions_api_token_id_idx ON auth_sessions (api_token_id);
CREATE INDEX auth_sessions_expires_at_idx ON auth_sessions (expires_at);
