-- PicPayGo's first schema: accounts, sessions, credits, jobs and images.

CREATE TABLE users (
    id                  uuid PRIMARY KEY,
    email               text NOT NULL,
    password_hash       text,
    name                text,
    surname             text,
    is_google_account   boolean NOT NULL DEFAULT false,
    google_id           text UNIQUE,
    created_at          timestamptz NOT NULL,
    last_login_at       timestamptz,
    last_login_location text,
    stripe_id           text
);
-- One account per address, whatever its letter case.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

-- Only the SHA-256 of a session token is stored; the token itself lives in the cookie.
CREATE TABLE sessions (
    token_hash text PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- The paid balance; it always equals the sum of the user's ledger entries.
CREATE TABLE credits (
    user_id    uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    balance    integer NOT NULL DEFAULT 0 CHECK (balance >= 0),
    updated_at timestamptz NOT NULL
);

CREATE TABLE credit_ledger (
    seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              uuid NOT NULL UNIQUE,
    user_id         uuid NOT NULL REFERENCES users (id),
    amount          integer NOT NULL CHECK (amount <> 0),
    reason          text NOT NULL,
    actor           text NOT NULL,
    job_id          uuid,
    -- charge:<job>, refund:<job>, purchase:<payment reference>
    idempotency_key text UNIQUE,
    created_at      timestamptz NOT NULL
);
CREATE INDEX credit_ledger_user_idx ON credit_ledger (user_id, seq DESC);
-- A job is charged at most once and refunded at most once, whatever the code does.
CREATE UNIQUE INDEX credit_ledger_job_charge_key ON credit_ledger (job_id)
    WHERE job_id IS NOT NULL AND amount < 0;
CREATE UNIQUE INDEX credit_ledger_job_refund_key ON credit_ledger (job_id)
    WHERE job_id IS NOT NULL AND amount > 0;

CREATE FUNCTION credit_ledger_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'credit_ledger is append-only: % is not allowed', TG_OP;
END;
$$;
CREATE TRIGGER credit_ledger_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON credit_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION credit_ledger_is_append_only();

-- Free credits left per client network (an IPv4 address or an IPv6 /64).
CREATE TABLE free_credits (
    network    text PRIMARY KEY,
    remaining  integer NOT NULL CHECK (remaining >= 0),
    updated_at timestamptz NOT NULL
);

CREATE TABLE images (
    id           uuid PRIMARY KEY,
    data         bytea NOT NULL,
    content_type text NOT NULL,
    created_at   timestamptz NOT NULL
);

CREATE TABLE jobs (
    id               uuid PRIMARY KEY,
    category         text NOT NULL CHECK (category IN ('portraits', 'editorial', 'documentary')),
    status           text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    owner_id         uuid REFERENCES users (id),
    client_network   text NOT NULL,
    credit_source    text NOT NULL CHECK (credit_source IN ('free', 'paid')),
    input_image_id   uuid,
    output_image_id  uuid,
    error            text,
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    available_at     timestamptz NOT NULL,
    lease_owner      text,
    lease_expires_at timestamptz,
    refunded         boolean NOT NULL DEFAULT false
);
CREATE INDEX jobs_queued_idx ON jobs (created_at) WHERE status = 'queued';
CREATE INDEX jobs_running_idx ON jobs (created_at) WHERE status = 'running';
CREATE INDEX jobs_outputs_to_expire_idx ON jobs (updated_at)
    WHERE status IN ('succeeded', 'failed') AND output_image_id IS NOT NULL;

-- Failed sign-in attempts per network, shared by every API process.
CREATE TABLE auth_attempts (
    key            text PRIMARY KEY,
    window_started timestamptz NOT NULL,
    attempts       integer NOT NULL
);
CREATE INDEX auth_attempts_window_idx ON auth_attempts (window_started);
