"""Live progress on PostgreSQL: ``GET /api/generate/{jobId}/events`` from real processes.

API processes and standalone workers share the run's database; a job's change reaches
every API process through NOTIFY, heard on one LISTEN connection per process however
many streams it serves (counted in ``pg_stat_activity``).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import httpx
import psycopg

from support.api import register, unique_email
from support.fake_openrouter import Answer, FakeOpenRouter
from support.images import jpeg_bytes
from support.server import serving
from support.worker import running_worker

DEADLINE_SECONDS = 20.0
POLL_SECONDS = 0.05
CLOSED = object()


class EventStream:
    """A stream read in a thread of its own: its ``status`` events, parsed, in a queue."""

    def __init__(self, base_url: str, job_id: str, cookies: httpx.Cookies | None = None) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=60.0, cookies=cookies)
        self._events: queue.Queue[object] = queue.Queue()
        self._opened: queue.Queue[int] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(job_id,), daemon=True)
        self._thread.start()
        self.status_code = self._opened.get(timeout=DEADLINE_SECONDS)

    def _read(self, job_id: str) -> None:
        try:
            with self._client.stream("GET", f"/api/generate/{job_id}/events") as response:
                self._opened.put(response.status_code)
                if response.status_code != 200:
                    return
                assert response.headers["content-type"].startswith("text/event-stream")
                fields: dict[str, str] = {}
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if not line:
                        if fields:
                            assert fields["event"] == "status", fields
                            assert fields["id"], fields
                            self._events.put(json.loads(fields["data"]))
                        fields = {}
                    elif not line.startswith(":"):
                        name, _, value = line.partition(": ")
                        fields[name] = value
        except httpx.HTTPError:
            pass
        finally:
            self._events.put(CLOSED)

    def next(self) -> dict[str, object]:
        """The next event (fails if the stream closes first or none comes in time)."""
        event = self._events.get(timeout=DEADLINE_SECONDS)
        assert event is not CLOSED, "the stream closed"
        assert isinstance(event, dict)
        return event

    def rest(self) -> list[dict[str, object]]:
        """Every event until the stream closes (which it must, in time)."""
        found = []
        while (event := self._events.get(timeout=DEADLINE_SECONDS)) is not CLOSED:
            assert isinstance(event, dict)
            found.append(event)
        return found

    def close(self) -> None:
        """Hang up, as a browser tab that goes away."""
        self._stop.set()
        self._client.close()
        self._thread.join(DEADLINE_SECONDS)


@contextmanager
def streams() -> Iterator[Callable[..., EventStream]]:
    """Open streams; all closed on exit."""
    opened: list[EventStream] = []

    def open_(base_url: str, job_id: str, cookies: httpx.Cookies | None = None) -> EventStream:
        stream = EventStream(base_url, job_id, cookies)
        opened.append(stream)
        return stream

    try:
        yield open_
    finally:
        for stream in opened:
            stream.close()


def upload(client: httpx.Client) -> str:
    response = client.post(
        "/api/generate",
        data={"category": "portraits"},
        files={"image": ("me.jpg", jpeg_bytes(96, 72), "image/jpeg")},
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["jobId"]
    return job_id


def listen_connections(url: str) -> int:
    """PicPayGo connections whose last statement was a LISTEN."""
    return _count(url, "LISTEN%")


def picpaygo_connections(url: str) -> int:
    return _count(url, "%")


def _count(url: str, query_like: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'picpaygo' AND coalesce(query, '') LIKE %s",
            (query_like,),
        ).fetchone()
    return int(row[0]) if row else 0


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {DEADLINE_SECONDS:g} s"
        time.sleep(POLL_SECONDS)


def api_env(postgres_url: str, **extra: str) -> dict[str, str]:
    return {"DATABASE_URL": postgres_url, "JOB_WORKERS": "0", "DEFAULT_FREE_CREDITS": "50", **extra}


def test_a_stream_on_one_process_follows_a_job_made_on_another_and_done_by_a_worker(
    postgres_url: str,
) -> None:
    env = api_env(postgres_url)
    with (
        serving(env) as a,
        serving(env) as b,
        httpx.Client(base_url=b.base_url, timeout=30.0) as client,
        streams() as open_stream,
    ):
        job_id = upload(client)
        stream = open_stream(a.base_url, job_id)
        assert stream.status_code == 200
        assert stream.next()["status"] == "queued"  # its state when followed

        with running_worker({"DATABASE_URL": postgres_url}):
            events = stream.rest()

        assert [event["status"] for event in events] == ["running", "succeeded"]
        assert events[-1] == client.get(f"/api/generate/{job_id}").json()


def test_a_failing_model_ends_the_stream_with_failed(postgres_url: str) -> None:
    with ExitStack() as stack:
        fake = stack.enter_context(FakeOpenRouter())
        fake.default = Answer.bad_request()
        env = api_env(postgres_url, JOB_WORKERS="1", OPENROUTER_API_KEY="sk-or-test")
        env["OPENROUTER_URL"] = fake.url
        server = stack.enter_context(serving(env))
        client = stack.enter_context(httpx.Client(base_url=server.base_url, timeout=30.0))
        open_stream = stack.enter_context(streams())

        job_id = upload(client)
        events = open_stream(server.base_url, job_id).rest()

        assert events[-1]["status"] == "failed"
        assert events[-1]["error"]
        assert {event["status"] for event in events} <= {"queued", "running", "failed"}


def test_a_finished_job_gives_one_event_and_another_user_gets_404(postgres_url: str) -> None:
    env = api_env(postgres_url, JOB_WORKERS="1")
    with (
        serving(env) as server,
        httpx.Client(base_url=server.base_url, timeout=30.0) as owner,
        httpx.Client(base_url=server.base_url, timeout=30.0) as other,
        streams() as open_stream,
    ):
        register(owner, unique_email())
        register(other, unique_email())
        job_id = upload(owner)
        wait_until(
            lambda: owner.get(f"/api/generate/{job_id}").json()["status"] == "succeeded",
            "the job is done",
        )

        assert [
            e["status"] for e in open_stream(server.base_url, job_id, owner.cookies).rest()
        ] == ["succeeded"]
        refused = other.get(f"/api/generate/{job_id}/events")
        assert refused.status_code == 404, refused.text


def test_fifty_streams_share_one_listen_connection_and_the_sixth_of_a_caller_is_429(
    postgres_url: str,
) -> None:
    env = api_env(postgres_url, DATABASE_POOL_SIZE="5")
    with (
        serving(env) as server,
        httpx.Client(base_url=server.base_url, timeout=30.0) as anonymous,
        streams() as open_stream,
    ):
        job_id = upload(anonymous)  # anonymous: anyone with its id may follow it
        first = open_stream(server.base_url, job_id)
        assert first.next()["status"] == "queued"
        wait_until(lambda: listen_connections(postgres_url) == 1, "the process LISTENs")
        before = picpaygo_connections(postgres_url)

        users = []
        for _ in range(10):
            user = httpx.Client(base_url=server.base_url, timeout=30.0)
            register(user, unique_email())
            users.append(user)
        try:
            opened = [
                open_stream(server.base_url, job_id, user.cookies)
                for user in users
                for _ in range(5)
            ]
            assert all(stream.next()["status"] == "queued" for stream in opened)

            assert listen_connections(postgres_url) == 1
            # the pool (5) and the one listener, whatever the number of streams
            assert picpaygo_connections(postgres_url) <= max(before, 5 + 1)
            sixth = users[0].get(f"/api/generate/{job_id}/events")
            assert sixth.status_code == 429, sixth.text
            assert sixth.json()["status_code"] == 429

            # Streams whose clients went away free their places.
            for stream in opened[:5]:
                stream.close()
            wait_until(
                lambda: open_stream(server.base_url, job_id, users[0].cookies).status_code == 200,
                "a place is freed",
            )
        finally:
            for user in users:
                user.close()


def test_each_api_process_listens_once_however_many_streams_it_serves(
    postgres_url: str,
) -> None:
    env = api_env(postgres_url)
    with (
        serving(env) as a,
        serving(env) as b,
        httpx.Client(base_url=a.base_url, timeout=30.0) as client,
        streams() as open_stream,
    ):
        assert listen_connections(postgres_url) == 0  # nobody follows a job yet
        job_ids = [upload(client) for _ in range(4)]
        for base_url in (a.base_url, b.base_url):
            for job_id in job_ids:
                assert open_stream(base_url, job_id).next()["status"] == "queued"

        wait_until(lambda: listen_connections(postgres_url) == 2, "both processes LISTEN")
        assert listen_connections(postgres_url) == 2


def test_sigterm_ends_open_streams_so_the_process_stops_at_once(postgres_url: str) -> None:
    with (
        serving(api_env(postgres_url)) as server,
        httpx.Client(base_url=server.base_url, timeout=30.0) as client,
        streams() as open_stream,
    ):
        stream = open_stream(server.base_url, upload(client))
        assert stream.next()["status"] == "queued"

        started = time.monotonic()
        code = server.stop(grace_seconds=DEADLINE_SECONDS)

        assert code == 0, server.output()
        assert time.monotonic() - started < 10.0
        assert stream.rest() == []  # the stream ended, cleanly, without the job


def test_a_state_that_lasts_less_than_a_read_is_still_sent(postgres_url: str) -> None:
    with (
        serving(api_env(postgres_url)) as server,
        httpx.Client(base_url=server.base_url, timeout=30.0) as client,
        streams() as open_stream,
        psycopg.connect(postgres_url, autocommit=True) as other,
    ):
        job_id = upload(client)
        stream = open_stream(server.base_url, job_id)
        assert stream.next()["status"] == "queued"

        # Two commits back to back from another connection: running, then failed.
        other.execute(
            "UPDATE jobs SET status = 'running', attempts = 1, "
            "updated_at = updated_at + interval '1 second' WHERE id = %s",
            (job_id,),
        )
        other.execute(
            "UPDATE jobs SET status = 'failed', error = 'The model gave up.', "
            "updated_at = updated_at + interval '1 second' WHERE id = %s",
            (job_id,),
        )
        events = stream.rest()

        assert [event["status"] for event in events] == ["running", "failed"]
        assert events[0]["error"] is None
        assert events[1]["error"] == "The model gave up."
        assert events[0]["updatedAt"] < events[1]["updatedAt"]
