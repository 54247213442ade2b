-- Users are accounts: a role, and active while the applied config declares
-- them (the built-in `admin` always is). Tokens belong to a user and act as
-- that user; tokens from before accounts belong to `admin`.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'responder';
ALTER TABLE users ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE;
INSERT INTO users (id, name, email, role) VALUES ('admin', 'Administrator', '', 'admin')
    ON CONFLICT (id) DO UPDATE SET role = 'admin';

CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (team_id, user_id)
);

ALTER TABLE api_tokens ADD COLUMN user_id TEXT NOT NULL DEFAULT 'admin' REFERENCES users(id);
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE api_tokens ADD COLUMN last_used_at BIGINT;
CREATE INDEX api_tokens_user ON api_tokens(user_id);
