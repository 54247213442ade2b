-- One row that readiness checks update: a real commit, which fails when the
-- disk is full or the database read-only, as a rolled-back write would not.
CREATE TABLE health_probe (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    at BIGINT NOT NULL
);
INSERT INTO health_probe (singleton, at) VALUES (1, 0);
