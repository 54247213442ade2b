-- Logging in: a password per user (argon2id PHC string), sessions kept
-- server-side (any node serves any; the secret is stored as its SHA-256),
-- one-time invitations to set a password, and the login throttle's state
-- per scope (`user:<id>`, `addr:<ip>`).
CREATE TABLE passwords (
    user_id TEXT PRIMARY KEY REFERENCES users(id),
    phc TEXT NOT NULL,
    set_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at BIGINT,
    address TEXT,
    user_agent TEXT
);
CREATE INDEX sessions_open_by_user ON sessions(user_id) WHERE ended_at IS NULL;
CREATE INDEX sessions_by_expiry ON sessions(expires_at);
CREATE INDEX sessions_by_end ON sessions(ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX sessions_by_last_seen ON sessions(last_seen_at) WHERE ended_at IS NULL;

CREATE TABLE invitations (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX invitations_by_user ON invitations(user_id);
CREATE INDEX invitations_by_expiry ON invitations(expires_at);

CREATE TABLE login_throttle (
    scope TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT
);
CREATE INDEX login_throttle_by_window ON login_throttle(window_start);
