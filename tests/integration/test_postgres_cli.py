"""The installed ``picpaygo`` console script on PostgreSQL, run as a maintainer would.

``db migrate`` runs on fresh throwaway databases; the ``users`` and ``credits``
commands run on the run's database (``postgres_url``) while a real ``picpaygo serve``
uses it too, so what one changes the other sees on its next request.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest

from adapters.postgres import available_migrations
from support.api import register, unique_email
from support.postgres import applied_versions, database_url, throwaway_database
from support.server import (
    ServerProcess,
    answered_500,
    clean_environment,
    free_port,
    picpaygo_command,
    serving,
)

MIGRATIONS = [f"{m.version:04d}_{m.name}" for m in available_migrations()]
COMMAND_TIMEOUT_SECONDS = 60


# --- helpers ----------------------------------------------------------------------------


def picpaygo(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``picpaygo ARGS`` on the database at ``url``."""
    return subprocess.run(  # noqa: S603 - our own console script
        [*picpaygo_command(), *args],
        env=clean_environment({"DATABASE_URL": url, **env}),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    """The stdout of a command that must have worked."""
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(succeeded(result))


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The one stderr line of a command that must have failed."""
    assert result.returncode != 0, (result.stdout, result.stderr)
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def server(postgres_server: str) -> Iterator[ServerProcess]:
    """One API process for the module, on the run's database, no free credits."""
    env = {"DATABASE_URL": postgres_server, "JOB_WORKERS": "0", "DEFAULT_FREE_CREDITS": "0"}
    with serving(env) as running:
        yield running
        log = running.output(tail=None)
        assert not answered_500(log), log
        assert "Traceback" not in log, log


class Account:
    """A user registered through the server, with a client holding their session."""

    def __init__(self, client: httpx.Client, email: str, user: dict[str, Any]) -> None:
        self.client = client
        self.email = email
        self.user = user

    def balance(self) -> int:
        response = self.client.get("/api/credits")
        assert response.status_code == 200, response.text
        balance: int = response.json()["balance"]
        return balance


@pytest.fixture
def account(server: ServerProcess, postgres_url: str) -> Iterator[Account]:
    email = unique_email()
    with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
        user = register(client, email, name="Ada", surname="Lovelace")
        yield Account(client, email, user)


# --- db migrate -------------------------------------------------------------------------


@pytest.mark.usefixtures("postgres_server")  # skips or fails when unreachable
def test_db_migrate_applies_each_migration_once() -> None:
    with throwaway_database(migrated=False) as url:
        first = succeeded(picpaygo(url, "db", "migrate"))
        assert first.splitlines() == [f"applied {name}" for name in MIGRATIONS]
        assert succeeded(picpaygo(url, "db", "migrate")).strip() == "the schema is up to date"
        assert as_json(picpaygo(url, "db", "migrate", "--json")) == {"applied": []}
        assert applied_versions(url) == [m.version for m in available_migrations()]

    with throwaway_database(migrated=False) as url:
        assert as_json(picpaygo(url, "db", "migrate", "--json")) == {"applied": MIGRATIONS}


@pytest.mark.usefixtures("postgres_server")  # skips or fails when unreachable
def test_concurrent_db_migrate_processes_apply_the_schema_once() -> None:
    with throwaway_database(migrated=False) as url:
        command = [*picpaygo_command(), "db", "migrate", "--json"]
        processes = [
            subprocess.Popen(  # noqa: S603 - our own console script
                command,
                env=clean_environment({"DATABASE_URL": url}),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        outcomes = [process.communicate(timeout=COMMAND_TIMEOUT_SECONDS) for process in processes]
        for process, (_, stderr) in zip(processes, outcomes, strict=True):
            assert process.returncode == 0, stderr
        applied = sorted((json.loads(stdout)["applied"] for stdout, _ in outcomes), key=len)
        assert applied == [[], [], [], MIGRATIONS], outcomes
        assert applied_versions(url) == [m.version for m in available_migrations()]
        # The schema works: the server's tables are there.
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)


@pytest.mark.usefixtures("postgres_server")  # skips or fails when unreachable
def test_commands_other_than_migrate_refuse_an_unmigrated_database() -> None:
    with throwaway_database(migrated=False) as url:
        line = refused(picpaygo(url, "credits", "show", "ada@example.com"))
    assert "picpaygo db migrate" in line


# --- users show -------------------------------------------------------------------------


def test_users_show_prints_the_account(account: Account, postgres_url: str) -> None:
    shown = as_json(picpaygo(postgres_url, "users", "show", account.email, "--json"))
    assert shown["createdAt"].endswith("Z"), shown  # RFC 3339 in UTC, as the HTTP API
    assert shown["lastLoginAt"].endswith("Z"), shown
    created = datetime.fromisoformat(shown.pop("createdAt"))
    last_login = datetime.fromisoformat(shown.pop("lastLoginAt"))
    assert shown == {
        "id": account.user["id"],
        "email": account.email,
        "balance": 0,
        "name": "Ada",
        "surname": "Lovelace",
        "isGoogleAccount": False,
        "hasPassword": True,
        "emailVerified": False,
    }
    assert created == datetime.fromisoformat(account.user["createdAt"].replace("Z", "+00:00"))
    assert last_login >= created

    # Any letter case finds the account; people get one line.
    human = succeeded(picpaygo(postgres_url, "users", "show", account.email.upper()))
    assert human.count("\n") == 1, human
    assert account.email in human
    assert account.user["id"] in human
    assert "0 credits" in human
    assert "password account" in human


@pytest.mark.parametrize("json_flag", [(), ("--json",)], ids=["human", "json"])
@pytest.mark.parametrize("group", ["users", "credits"])
def test_show_of_an_unknown_email_fails_with_one_line(
    postgres_url: str, group: str, json_flag: tuple[str, ...]
) -> None:
    email = unique_email()
    line = refused(picpaygo(postgres_url, group, "show", email, *json_flag))
    assert email in line


# --- credits ----------------------------------------------------------------------------


def test_credits_grant_show_revoke_and_history(account: Account, postgres_url: str) -> None:
    email = account.email
    assert account.balance() == 0
    expected_account = {"id": account.user["id"], "email": email}

    granted = as_json(
        picpaygo(
            postgres_url,
            *("credits", "grant", email, "7", "--reason", "goodwill", "--actor", "alice", "--json"),
        )
    )
    assert granted == {**expected_account, "balance": 7}
    # The running server sees the grant on its very next request.
    assert account.balance() == 7
    assert as_json(picpaygo(postgres_url, "credits", "show", email, "--json")) == granted

    spent = account.client.post("/api/credits/consume", json={"amount": 2})
    assert spent.status_code == 200, spent.text
    revoked = as_json(
        picpaygo(postgres_url, "credits", "revoke", email, "3", "--reason", "chargeback", "--json")
    )
    assert revoked == {**expected_account, "balance": 2}
    assert account.balance() == 2

    human = succeeded(picpaygo(postgres_url, "credits", "grant", email, "1", "--reason", "sorry"))
    assert human.strip() == f"granted 1: {email} now has 3 credits"
    assert succeeded(picpaygo(postgres_url, "credits", "show", email)).strip() == (
        f"{email}: 3 credits"
    )

    history = as_json(picpaygo(postgres_url, "credits", "history", email, "--json"))
    assert [(e["amount"], e["reason"]) for e in history] == [
        (1, "admin_grant: sorry"),
        (-3, "admin_revoke: chargeback"),
        (-2, "consume"),
        (7, "admin_grant: goodwill"),
    ]
    assert history[3]["actor"] == "admin:alice"
    assert history[2]["actor"] == f"user:{account.user['id']}"
    assert history[1]["actor"].startswith("admin:")
    assert all(entry["jobId"] is None for entry in history)
    assert len({entry["id"] for entry in history}) == 4
    times = [datetime.fromisoformat(entry["createdAt"]) for entry in history]
    assert times == sorted(times, reverse=True)  # newest first
    assert sum(entry["amount"] for entry in history) == account.balance()

    newest = as_json(picpaygo(postgres_url, "credits", "history", email, "--limit", "1", "--json"))
    assert newest == history[:1]
    human_history = succeeded(picpaygo(postgres_url, "credits", "history", email))
    assert len(human_history.splitlines()) == 4
    assert "admin_revoke: chargeback" in human_history


def test_revoking_below_zero_changes_nothing(account: Account, postgres_url: str) -> None:
    email = account.email
    succeeded(picpaygo(postgres_url, "credits", "grant", email, "5", "--reason", "start"))
    before = as_json(picpaygo(postgres_url, "credits", "history", email, "--json"))

    line = refused(
        picpaygo(postgres_url, "credits", "revoke", email, "6", "--reason", "too much", "--json")
    )
    assert "Traceback" not in line

    assert as_json(picpaygo(postgres_url, "credits", "show", email, "--json"))["balance"] == 5
    assert as_json(picpaygo(postgres_url, "credits", "history", email, "--json")) == before
    assert account.balance() == 5

    # Exactly the whole balance may go.
    emptied = as_json(
        picpaygo(postgres_url, "credits", "revoke", email, "5", "--reason", "all", "--json")
    )
    assert emptied["balance"] == 0
    assert account.balance() == 0
    assert len(as_json(picpaygo(postgres_url, "credits", "history", email, "--json"))) == 2


@pytest.mark.parametrize("verb", ["grant", "revoke"])
def test_adjusting_an_unknown_email_fails_and_writes_nothing(postgres_url: str, verb: str) -> None:
    email = unique_email()
    line = refused(picpaygo(postgres_url, "credits", verb, email, "3", "--reason", "x"))
    assert email in line
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT count(*) FROM credit_ledger").fetchone() == (0,)


# --- an unreachable database --------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [("db", "migrate"), ("credits", "show", "ada@example.com")],
    ids=["db-migrate", "credits-show"],
)
def test_an_unreachable_database_is_one_line_naming_it_without_its_password(
    args: tuple[str, ...],
) -> None:
    # Nobody listens on this port: every connection attempt is refused at once.
    port = free_port()
    parts = urlsplit(database_url("picpaygo_nowhere"))
    netloc = f"{parts.username or 'postgres'}:s3cr3tpw@127.0.0.1:{port}"
    url = urlunsplit(parts._replace(netloc=netloc))
    started = time.monotonic()
    result = picpaygo(url, *args, DATABASE_TIMEOUT_SECONDS="1")
    assert time.monotonic() - started < 15
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    line = refused(result)
    assert "database" in line.lower()
    assert "127.0.0.1" in line
    assert str(port) in line
    assert "picpaygo_nowhere" in line
    assert "s3cr3tpw" not in line


# --- any bytes, any text ------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        (b"credits", b"show", b"ada\xff@example.com"),
        (b"credits", b"grant", b"ada@example.com", b"5", b"--reason", b"\xc3\x28"),
        (b"users", b"show", b"\xed\xa0\x80@example.com"),
        (b"credits", b"history", b"ada@example.com", b"--limit", b"\xff"),
    ],
)
def test_arguments_that_are_not_utf8_are_one_line(postgres_url: str, args: tuple[bytes]) -> None:
    result = subprocess.run(  # noqa: S603 - our own console script
        [*(part.encode() for part in picpaygo_command()), *args],
        env=clean_environment({"DATABASE_URL": postgres_url}),
        capture_output=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )

    assert result.returncode == 2, result.stderr
    assert result.stdout == b""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert b"Traceback" not in result.stderr


@pytest.mark.parametrize("reason", ["line one\nline two", "tab\there", "bidi \u202e", "\r"])
def test_a_reason_that_is_not_one_visible_line_is_refused(
    account: Account, postgres_url: str, reason: str
) -> None:
    line = refused(
        picpaygo(postgres_url, "credits", "grant", account.email, "5", "--reason", reason)
    )

    assert "reason" in line
    assert account.balance() == 0


@pytest.mark.parametrize("email", ["ada\x01@example.com", "ad\u00ada@example.com", "\ud800"])
def test_an_email_with_invisible_characters_is_one_line(postgres_url: str, email: str) -> None:
    email = email.encode("utf-8", "surrogatepass").decode("utf-8", "surrogateescape")
    line = refused(picpaygo(postgres_url, "credits", "show", email))

    assert "Traceback" not in line


def test_a_grant_past_the_balance_cap_is_one_line(account: Account, postgres_url: str) -> None:
    near_the_cap = 999_999_999_999
    with psycopg.connect(postgres_url) as conn:  # a ledger entry the size no grant may be
        conn.execute(
            "INSERT INTO credit_ledger (id, user_id, amount, reason, actor, created_at) "
            "VALUES (gen_random_uuid(), %s, %s, 'test', 'test', now())",
            (account.user["id"], near_the_cap),
        )
        conn.execute(
            "UPDATE credits SET balance = %s WHERE user_id = %s", (near_the_cap, account.user["id"])
        )

    line = refused(picpaygo(postgres_url, "credits", "grant", account.email, "2", "--reason", "x"))

    assert "1,000,000,000,000" in line
    assert account.balance() == near_the_cap
