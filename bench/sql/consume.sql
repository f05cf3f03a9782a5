-- POST /api/credits/consume {"amount": 1} once the network's free credits are spent:
-- the SQL of src/adapters/postgres/repositories.py, as the app runs it.
-- :nokey is '-' so NULLIF(:nokey, '-') is the NULL idempotency key and job id the app
-- passes; the ledger id is gen_random_uuid() where the app passes a fresh uuid4.
-- Unit of work 1, the `caller` dependency (AuthService.current_user):
-- PostgresSessionRepository.find_with_user (the session and its user in one query).
BEGIN;
SELECT s.token_hash, s.user_id, s.created_at AS session_created_at, s.expires_at,
       u.id, u.email, u.password_hash, u.name, u.surname, u.is_google_account, u.google_id,
       u.created_at, u.last_login_at, u.last_login_location
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = :token_hash;
ROLLBACK;
-- Unit of work 2, CreditService.consume -> spend -> PostgresFreeCreditRepository.take
-- (a conditional UPDATE that finds nothing left, then a re-read of what is left),
-- PostgresCreditRepository.record (one conditional statement), credits_view, COMMIT.
BEGIN;
UPDATE free_credits SET remaining = remaining - :n, updated_at = now()
WHERE network = :network AND remaining >= :n
RETURNING remaining;
SELECT remaining FROM free_credits WHERE network = :network;
WITH moved AS (
    UPDATE credits SET balance = balance + :amount, updated_at = :now
    WHERE user_id = :user_id AND balance + :amount >= 0
      AND NOT EXISTS (
          SELECT 1 FROM credit_ledger WHERE idempotency_key = NULLIF(:nokey, '-')
      )
    RETURNING balance
), entry AS (
    INSERT INTO credit_ledger (id, user_id, amount, reason, actor, created_at, job_id,
                               idempotency_key)
    SELECT gen_random_uuid(), :user_id, :amount, :reason, :actor, :now,
           NULLIF(:nokey, '-')::uuid, NULLIF(:nokey, '-')
    FROM moved
)
SELECT (SELECT balance FROM moved) AS balance,
       EXISTS (
           SELECT 1 FROM credit_ledger WHERE idempotency_key = NULLIF(:nokey, '-')
       ) AS duplicate;
SELECT remaining FROM free_credits WHERE network = :network;
SELECT balance FROM credits WHERE user_id = :user_id;
COMMIT;
