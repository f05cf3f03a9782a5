-- Operator incidents (a refused API key, an image model out of funds): at most one open
-- per source, shared by every process so /api/health on any of them can report it.
CREATE TABLE incidents (
    source     text PRIMARY KEY,
    message    text NOT NULL,
    started_at timestamptz NOT NULL
);
