-- GET /api/generate/{id}: the SQL of src/adapters/postgres/repositories.py, as the app runs it.
-- Unit of work 1, the `caller` dependency (AuthService.current_user):
-- PostgresSessionRepository.find_with_user (the session and its user in one query).
BEGIN;
SELECT s.token_hash, s.user_id, s.created_at AS session_created_at, s.expires_at,
       u.id, u.email, u.password_hash, u.name, u.surname, u.is_google_account, u.google_id,
       u.created_at, u.last_login_at, u.last_login_location
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = :token_hash;
ROLLBACK;
-- Unit of work 2, GenerationService.job: PostgresJobRepository.find.
BEGIN;
SELECT id, category, status, owner_id, client_network, credit_source, input_image_id,
       output_image_id, error, attempts, created_at, updated_at, available_at,
       lease_owner, lease_expires_at, refunded
FROM jobs WHERE id = :job_id;
ROLLBACK;
