"""The installed ``picpaygo`` console script, run as a maintainer's script would."""

from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest

from support.server import picpaygo_command


def run_picpaygo(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "OPENROUTER_API_KEY")}
    env["DATABASE_URL"] = "memory://"
    return subprocess.run(  # noqa: S603 - our own console script
        [*picpaygo_command(), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (("credits", "grant", "ada@example.com", "0", "--reason", "x"), "AMOUNT"),
        (("credits", "grant", "ada@example.com", "5"), "--reason"),
        (("no-such-command",), "no-such-command"),
        (("credits", "show", "ada@example.com"), "DATABASE_URL"),
        (("worker",), "DATABASE_URL"),
        (("db", "migrate"), "DATABASE_URL"),
    ],
)
def test_a_failing_command_exits_non_zero_with_one_line_on_stderr(
    args: tuple[str, ...], mentions: str
) -> None:
    result = run_picpaygo(*args)

    assert result.returncode != 0
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert mentions in result.stderr


def test_help_exits_zero() -> None:
    result = run_picpaygo("--help")

    assert result.returncode == 0
    assert "credits" in result.stdout


def test_with_json_a_usage_error_is_one_json_line_and_exit_2() -> None:
    result = run_picpaygo("credits", "grant", "ada@example.com", "five", "--reason", "x", "--json")

    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "AMOUNT" in json.loads(line)["error"]


def test_version_and_short_help_exit_zero() -> None:
    assert run_picpaygo("--version").stdout.strip().startswith("picpaygo ")
    assert "serve" in run_picpaygo("-h").stdout


def test_serve_on_a_port_in_use_fails_at_once_before_any_worker_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = run_picpaygo("serve", "--host", "127.0.0.1", "--port", str(port))

    assert result.returncode == 1, result.stderr
    [line] = result.stderr.splitlines()
    assert "already in use" in line
    assert str(port) in line
    assert "--port" in line
    assert "PORT" in line.replace("--port", "")
