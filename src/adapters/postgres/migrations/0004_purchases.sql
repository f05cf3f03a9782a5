-- Purchases of credit packs, the refunds and disputes of their payments, and ledger
-- entries that name the purchase they come from.

CREATE TABLE purchases (
    seq                 bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    id                  uuid PRIMARY KEY,
    user_id             uuid NOT NULL REFERENCES users (id),
    pack                integer NOT NULL CHECK (pack > 0),
    amount              bigint NOT NULL CHECK (amount >= 0),
    currency            text NOT NULL,
    status              text NOT NULL
        CHECK (status IN ('pending', 'paid', 'failed', 'expired', 'reversed')),
    checkout_session_id text UNIQUE,
    payment_intent_id   text UNIQUE,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX purchases_user_idx ON purchases (user_id, seq DESC);

-- A refund or dispute reported for a payment. Kept even when it arrives before the
-- payment's own confirmation, so the purchase is reversed whatever the order of events.
CREATE TABLE payment_reversals (
    payment_intent_id text PRIMARY KEY,
    kind              text NOT NULL,
    reference         text NOT NULL,
    created_at        timestamptz NOT NULL
);

ALTER TABLE credit_ledger ADD COLUMN purchase_id uuid REFERENCES purchases (id);
-- A purchase is credited at most once and taken back at most once, whatever the code does.
CREATE UNIQUE INDEX credit_ledger_purchase_credit_key ON credit_ledger (purchase_id)
    WHERE purchase_id IS NOT NULL AND amount > 0;
CREATE UNIQUE INDEX credit_ledger_purchase_reversal_key ON credit_ledger (purchase_id)
    WHERE purchase_id IS NOT NULL AND amount < 0;
