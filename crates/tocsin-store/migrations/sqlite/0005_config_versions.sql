-- Every applied config, numbered. The newest is the one in force on every
-- node: nodes poll the highest version and rebuild their directory from its
-- source, so a config applied through one node reaches all of them.
CREATE TABLE config_versions (
    version BIGINT PRIMARY KEY,
    file TEXT NOT NULL,
    source TEXT NOT NULL,
    summary TEXT NOT NULL,
    applied_at BIGINT NOT NULL,
    applied_by TEXT NOT NULL
);
