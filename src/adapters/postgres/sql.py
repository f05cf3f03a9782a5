"""The SQL of the request paths, as constants: the repositories run them, and the
benchmark's pgbench scripts are generated from them (named parameters only)."""

from __future__ import annotations

USER_COLUMNS = (
    "id, email, password_hash, name, surname, is_google_account, google_id, "
    "created_at, last_login_at, last_login_location"
)
JOB_COLUMNS = (
    "id, category, status, owner_id, client_network, credit_source, input_image_id, "
    "output_image_id, error, attempts, created_at, updated_at, available_at, "
    "lease_owner, lease_expires_at, refunded"
)
LEDGER_COLUMNS = (
    "id, user_id, amount, reason, actor, created_at, job_id, idempotency_key, purchase_id"
)
PURCHASE_COLUMNS = (
    "id, user_id, pack, amount, currency, status, created_at, updated_at, "
    "checkout_session_id, payment_intent_id"
)

# Every signed-in request: the session (expired or not) and its user.
SESSION_WITH_USER_SQL = f"""
SELECT s.token_hash, s.user_id, s.created_at, s.expires_at,
       {", ".join(f"u.{column}" for column in USER_COLUMNS.split(", "))}
FROM sessions s
JOIN users u ON u.id = s.user_id
WHERE s.token_hash = %(token_hash)s
""".encode()

# The reads requests start with, for all the requests of one turn of the event loop (see
# ``session_reads``): one row per asked token that matches a session, with its user,
# tagged with its place in the array.
SESSIONS_WITH_USERS_SQL = f"""
SELECT k.i, s.token_hash, s.user_id, s.created_at, s.expires_at,
       {", ".join(f"u.{column}" for column in USER_COLUMNS.split(", "))}
FROM unnest(%(token_hashes)s::text[]) WITH ORDINALITY AS k(token_hash, i)
JOIN sessions s ON s.token_hash = k.token_hash
JOIN users u ON u.id = s.user_id
""".encode()

# Per asked (token, network): the session (if any) with its user, the user's balance and
# the network's free credits; exactly one row per question, in the questions' order.
CALLERS_SQL = f"""
SELECT k.i, s.token_hash, s.user_id, s.created_at, s.expires_at,
       {", ".join(f"u.{column}" for column in USER_COLUMNS.split(", "))},
       c.balance, f.remaining
FROM unnest(%(token_hashes)s::text[], %(networks)s::text[]) WITH ORDINALITY
     AS k(token_hash, network, i)
LEFT JOIN sessions s ON s.token_hash = k.token_hash
LEFT JOIN users u ON u.id = s.user_id
LEFT JOIN credits c ON c.user_id = u.id
LEFT JOIN free_credits f ON f.network = k.network
ORDER BY k.i
""".encode()

# GET /api/credits and the start of POST /api/generate: the session (expired or not) and
# its user, the user's balance and
# the network's free credits in one read; a row comes back even when nothing matches.
_CALLER = f"""
SELECT s.token_hash, s.user_id, s.created_at, s.expires_at,
       {", ".join(f"u.{column}" for column in USER_COLUMNS.split(", "))},
       c.balance, f.remaining
FROM (SELECT 1) AS one
LEFT JOIN sessions s ON s.token_hash = %(token_hash)s
LEFT JOIN users u ON u.id = s.user_id
LEFT JOIN credits c ON c.user_id = u.id
LEFT JOIN free_credits f ON f.network = %(network)s
"""
CALLER_SQL = _CALLER.encode()

# Claiming an idempotency key takes over a record only once it expired, or while it is
# pending and stale (its request died); otherwise the claim changes nothing.
_KEY_CLAIM_CONFLICT = """
ON CONFLICT (caller, key) DO UPDATE SET
    fingerprint = EXCLUDED.fingerprint, status_code = NULL, body = NULL,
    created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
WHERE i.expires_at <= %(now)s
   OR (i.status_code IS NULL AND i.created_at <= %(stale_before)s)
RETURNING 1
"""
KEY_CLAIM_SQL = f"""
INSERT INTO idempotency_keys AS i
    (caller, key, fingerprint, status_code, body, created_at, expires_at)
VALUES (%(scope)s, %(key)s, %(fingerprint)s, NULL, NULL, %(now)s, %(expires_at)s)
{_KEY_CLAIM_CONFLICT}""".encode()

# ``CALLER_SQL`` that also claims an idempotency key, in one statement (atomic on its
# own): in the user's scope while the session is valid, else in the network's. The
# record read with it is this statement's snapshot: one committed by a racing claim
# after the snapshot was taken is read again apart.
CALLER_CLAIMING_KEY_SQL = f"""
WITH caller AS ({_CALLER}), scope AS (
    SELECT CASE WHEN caller.id IS NOT NULL AND caller.expires_at > %(now)s
                THEN 'user:' || caller.id ELSE 'network:' || %(network)s END AS name
    FROM caller
), claimed AS (
    INSERT INTO idempotency_keys AS i
        (caller, key, fingerprint, status_code, body, created_at, expires_at)
    SELECT name, %(key)s, %(fingerprint)s, NULL, NULL, %(now)s, %(expires_at)s FROM scope
    {_KEY_CLAIM_CONFLICT}
)
SELECT caller.*, scope.name, EXISTS (SELECT 1 FROM claimed),
       k.fingerprint, k.status_code, k.body
FROM caller CROSS JOIN scope
LEFT JOIN idempotency_keys k ON k.caller = scope.name AND k.key = %(key)s
""".encode()


# A spend in one statement, for the usual cases: the network has enough free credits
# left (take them), or none at all (take the paid balance, with its ledger entry, if it
# covers the amount). Anything else (a network never seen, or fewer free credits than the
# amount but not none) changes nothing and is left to the step-by-step path. The paid
# UPDATE runs only when the free one did not (it reads that CTE's output). Each UPDATE
# re-checks its condition on the latest row version, so concurrent spends never
# overdraw; ``known`` is this statement's snapshot, read only to choose the path.
SPEND_SQL = f"""
WITH free AS (
    UPDATE free_credits SET remaining = remaining - %(amount)s, updated_at = %(now)s
    WHERE network = %(network)s AND remaining >= %(amount)s
    RETURNING remaining
), known AS (
    SELECT remaining FROM free_credits WHERE network = %(network)s
), paid AS (
    UPDATE credits SET balance = balance - %(amount)s, updated_at = %(now)s
    WHERE user_id = %(user_id)s::uuid AND balance >= %(amount)s
      AND NOT EXISTS (SELECT 1 FROM free) AND (SELECT remaining FROM known) = 0
    RETURNING balance
), entry AS (
    INSERT INTO credit_ledger ({LEDGER_COLUMNS})
    SELECT %(entry_id)s, %(user_id)s::uuid, -(%(amount)s::integer), %(reason)s, %(actor)s,
           %(now)s, %(job_id)s::uuid, %(idempotency_key)s::text, NULL
    FROM paid
)
SELECT (SELECT remaining FROM free), (SELECT balance FROM paid),
       (SELECT remaining FROM known),
       (SELECT balance FROM credits WHERE user_id = %(user_id)s::uuid)
""".encode()

# Leases the oldest due job. Each kind of due job (queued and available, or running with
# a lapsed lease) is looked up on its own partial index, oldest first, so a claim reads a
# row or two however long the queue is; one query over both kinds could use neither
# index, and would read and sort every due job.
CLAIM_NEXT_SQL = """
WITH queued AS (
    SELECT id, created_at FROM jobs
    WHERE status = 'queued' AND available_at <= %(now)s
    ORDER BY created_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
), lapsed AS (
    SELECT id, created_at FROM jobs
    WHERE status = 'running'
      AND (lease_expires_at IS NULL OR lease_expires_at <= %(now)s)
    ORDER BY created_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
), oldest AS (
    SELECT id FROM (SELECT * FROM queued UNION ALL SELECT * FROM lapsed) AS due
    ORDER BY created_at
    LIMIT 1
)
UPDATE jobs SET status = 'running', attempts = attempts + 1,
    lease_owner = %(worker)s, lease_expires_at = %(lease_until)s, updated_at = %(now)s
WHERE id = (SELECT id FROM oldest)
RETURNING {columns}
"""

# A worker's claim: ``CLAIM_NEXT_SQL`` and the claimed job's photo (NULLs when it is gone)
# in one statement, atomic on its own.
CLAIM_WITH_PHOTO_SQL = (
    "WITH claimed AS (\n"
    + CLAIM_NEXT_SQL
    + """)
SELECT claimed.*, i.id, i.data, i.content_type, i.created_at
FROM claimed LEFT JOIN images i ON i.id = claimed.input_image_id
"""
)

# A job's success in one statement: if the job still runs under this worker's lease, lock
# it, store the output, mark the job succeeded, delete its photo and close the image
# model's incident; no row otherwise (and nothing changed). The incident's columns are
# NULL when none was open.
COMPLETE_JOB_SQL = """
WITH mine AS (
    SELECT id, input_image_id FROM jobs
    WHERE id = %(job_id)s AND status = 'running' AND lease_owner = %(worker)s
    FOR UPDATE
), done AS (
    UPDATE jobs SET status = 'succeeded', output_image_id = %(output_id)s,
        input_image_id = NULL, error = NULL, updated_at = %(now)s,
        lease_owner = NULL, lease_expires_at = NULL
    FROM mine WHERE jobs.id = mine.id
    RETURNING {columns}
), output AS (
    INSERT INTO images (id, data, content_type, created_at)
    SELECT %(output_id)s, %(data)s, %(content_type)s, %(created_at)s FROM mine
), photo AS (
    DELETE FROM images WHERE id = (SELECT input_image_id FROM mine)
), ended AS (
    DELETE FROM incidents WHERE source = %(incident)s AND EXISTS (SELECT 1 FROM mine)
    RETURNING source, message, started_at
)
SELECT done.*, ended.* FROM done LEFT JOIN ended ON true
"""
