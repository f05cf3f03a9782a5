-- Live progress: every visible change of a job (a new job; its status, error, output or
-- time changing) notifies on the channel the workers already listen on, in the
-- transaction that makes the change, so the notification goes out when it commits and
-- never for a change that is rolled back. The payload is the job's id, then its new
-- status and time (UTC, to the microsecond): "<id> <status> <YYYY-MM-DDTHH:MI:SS.US>",
-- so a follower can tell of a state the job left before it was read again. The
-- workers' own wake-up on that channel has an empty payload. A trigger covers every
-- statement that changes a job, from any process.

CREATE FUNCTION picpaygo_notify_job_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(
        'picpaygo_jobs',
        NEW.id::text || ' ' || NEW.status || ' '
            || to_char(NEW.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')
    );
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_inserted AFTER INSERT ON jobs
    FOR EACH ROW EXECUTE FUNCTION picpaygo_notify_job_change();

CREATE TRIGGER jobs_changed AFTER UPDATE ON jobs
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR OLD.error IS DISTINCT FROM NEW.error
          OR OLD.output_image_id IS DISTINCT FROM NEW.output_image_id
          OR OLD.updated_at IS DISTINCT FROM NEW.updated_at
          OR OLD.category IS DISTINCT FROM NEW.category)
    EXECUTE FUNCTION picpaygo_notify_job_change();
