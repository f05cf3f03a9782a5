-- Hardening: 64-bit balances with a cap, one normalised email key, idempotent requests,
-- and the index behind a user's job list.

-- Balances and ledger amounts are 64-bit; the core caps a balance at 10^12 credits, and
-- so does the database, so both storages refuse the same grants.
ALTER TABLE credits ALTER COLUMN balance TYPE bigint;
ALTER TABLE credits ADD CONSTRAINT credits_balance_cap CHECK (balance <= 1000000000000);
ALTER TABLE credit_ledger ALTER COLUMN amount TYPE bigint;

-- The email key is computed by the core (Unicode NFKC, then case-folded); existing rows
-- get PostgreSQL's closest equivalent and are rewritten by the core on their next update.
ALTER TABLE users ADD COLUMN email_key text;
UPDATE users SET email_key = lower(normalize(email, NFKC));
ALTER TABLE users ALTER COLUMN email_key SET NOT NULL;
CREATE UNIQUE INDEX users_email_key ON users (email_key);
DROP INDEX users_email_lower_key;

-- A user's jobs, newest first (GET /api/generate).
CREATE INDEX jobs_owner_idx ON jobs (owner_id, created_at DESC, id DESC)
    WHERE owner_id IS NOT NULL;

-- The first answer to a request sent with an Idempotency-Key, per caller and key.
-- ``status_code`` is null while the first request is still being worked on.
CREATE TABLE idempotency_keys (
    caller       text NOT NULL,
    key          text NOT NULL,
    fingerprint  text NOT NULL,
    status_code  integer,
    body         bytea,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
