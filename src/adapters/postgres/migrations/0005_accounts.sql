-- Accounts people can keep: verified emails, mailed links (stored by hash), the mail
-- outbox, records of password changes, and erasure that keeps the books.

-- Google vouches for its accounts' addresses; a password account proves its own by
-- following a mailed link.
ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL DEFAULT false;
UPDATE users SET email_verified = true WHERE google_id IS NOT NULL;

-- An erased account leaves its ledger entries and purchases for the books: they keep
-- the user id, which then names no one (no email, no name).
ALTER TABLE credit_ledger DROP CONSTRAINT IF EXISTS credit_ledger_user_id_fkey;
ALTER TABLE purchases DROP CONSTRAINT IF EXISTS purchases_user_id_fkey;

-- The SHA-256 of a mailed link's token, bound to its purpose, user and email.
CREATE TABLE account_tokens (
    token_hash text PRIMARY KEY,
    purpose    text NOT NULL CHECK (purpose IN ('verify', 'reset')),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX account_tokens_user_idx ON account_tokens (user_id, purpose)
    WHERE used_at IS NULL;

-- Mails written in the transaction of the change they tell of, sent by the workers.
-- Their bodies are emptied once sent or given up.
CREATE TABLE mail_outbox (
    seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    id              uuid PRIMARY KEY,
    recipient       text NOT NULL,
    subject         text NOT NULL,
    text_body       text NOT NULL,
    html_body       text NOT NULL,
    user_id         uuid REFERENCES users (id) ON DELETE CASCADE,
    status          text NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    last_error      text,
    sent_at         timestamptz
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE status = 'queued';

-- Password resets and changes, and reset requests: when, from which network.
CREATE TABLE account_events (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        uuid REFERENCES users (id) ON DELETE CASCADE,
    kind           text NOT NULL,
    client_network text,
    created_at     timestamptz NOT NULL
);
CREATE INDEX account_events_user_idx ON account_events (user_id);
