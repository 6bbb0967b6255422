-- Tokens, browser sessions, the server's secret, and one row per VideoJob (history).
CREATE TABLE tokens (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    secret_hash  bytea NOT NULL,
    scopes       text[] NOT NULL,
    budget_usd   numeric(12, 4),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    id_hash      bytea PRIMARY KEY,
    token_id     text NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE app_secret (
    id     int PRIMARY KEY CHECK (id = 1),
    value  bytea NOT NULL
);

CREATE TABLE jobs (
    uid              text PRIMARY KEY,
    name             text NOT NULL,
    namespace        text NOT NULL,
    token_id         text,
    submitted_by     text,
    title            text,
    source_kind      text NOT NULL,
    source_summary   text NOT NULL,
    preset           text,
    phase            text NOT NULL,
    percent          double precision,
    failure_reason   text,
    failure_message  text,
    outputs          jsonb NOT NULL DEFAULT '[]',
    spec             jsonb NOT NULL,
    created_at       timestamptz NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz,
    encode_seconds   double precision,
    cpu_request      double precision,
    output_seconds   double precision,
    cost_usd         numeric(14, 6),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_newest ON jobs (created_at DESC, uid DESC);
CREATE INDEX jobs_name ON jobs (name);
CREATE INDEX jobs_token_created ON jobs (token_id, created_at);
