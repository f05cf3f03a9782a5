"""The ``picpaygo`` CLI: JSON or human output, exit 0 on success, one stderr line otherwise.

CliRunner runs each command's ``asyncio.run`` itself, so these tests are synchronous.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from entrypoints.cli import CliContext, cli
from entrypoints.container import Container
from picpaygo_core.models import Caller
from support.cli import EMAIL, Invoke
from support.fakes import FakeClock


def one_line(text: str) -> str:
    """The only line of ``text``; fails when there are more or none."""
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def balance(invoke: Invoke) -> int:
    result = invoke("credits", "show", EMAIL, "--json")
    assert result.exit_code == 0, result.output
    value: int = json.loads(result.stdout)["balance"]
    return value


@pytest.mark.parametrize(
    "args",
    [["credits", "show", "x@y.z"], ["worker"], ["db", "migrate"], ["pictures", "migrate"]],
    ids=["credits-show", "worker", "db-migrate", "pictures-migrate"],
)
def test_without_a_database_commands_needing_one_fail_with_one_line_naming_it(
    args: Sequence[str],
) -> None:
    result = CliRunner().invoke(cli, list(args), obj=CliContext({"DATABASE_URL": "memory://"}))

    assert result.exit_code != 0
    assert "DATABASE_URL" in one_line(result.stderr)
    assert result.stdout == ""


def test_credits_show_prints_the_balance_as_json(invoke: Invoke) -> None:
    result = invoke("credits", "show", EMAIL, "--json")

    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert payload["email"] == EMAIL
    assert payload["balance"] == 0
    assert payload["id"]


def test_credits_show_prints_a_line_for_people(invoke: Invoke) -> None:
    result = invoke("credits", "show", EMAIL)

    assert result.exit_code == 0
    assert one_line(result.stdout) == f"{EMAIL}: 0 credits"


def test_an_email_is_found_in_any_letter_case(invoke: Invoke) -> None:
    result = invoke("credits", "show", EMAIL.upper(), "--json")

    assert result.exit_code == 0
    assert json.loads(result.stdout)["email"] == EMAIL


def test_grant_adds_to_the_balance(invoke: Invoke) -> None:
    result = invoke("credits", "grant", EMAIL, "5", "--reason", "support")

    assert result.exit_code == 0, result.output
    assert balance(invoke) == 5


def test_grant_with_json_prints_the_new_balance(invoke: Invoke) -> None:
    result = invoke("credits", "grant", EMAIL, "5", "--reason", "support", "--json")

    assert result.exit_code == 0
    assert json.loads(result.stdout)["balance"] == 5


def test_revoke_takes_from_the_balance(invoke: Invoke) -> None:
    invoke("credits", "grant", EMAIL, "5", "--reason", "support")

    result = invoke("credits", "revoke", EMAIL, "2", "--reason", "duplicate grant")

    assert result.exit_code == 0, result.output
    assert balance(invoke) == 3


def test_revoke_below_zero_is_refused_with_one_line_and_nothing_taken(invoke: Invoke) -> None:
    invoke("credits", "grant", EMAIL, "5", "--reason", "support")

    result = invoke("credits", "revoke", EMAIL, "10", "--reason", "x")

    assert result.exit_code != 0
    assert "has 5 credits" in one_line(result.stderr)
    assert result.stdout == ""
    assert balance(invoke) == 5


def test_history_lists_entries_newest_first_with_reason_and_actor(
    invoke: Invoke, clock: FakeClock
) -> None:
    invoke("credits", "grant", EMAIL, "5", "--reason", "support", "--actor", "alice")
    clock.advance(minutes=1)
    invoke("credits", "revoke", EMAIL, "2", "--reason", "duplicate", "--actor", "bob")

    result = invoke("credits", "history", EMAIL, "--json")

    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)
    assert [entry["amount"] for entry in entries] == [-2, 5]
    assert "duplicate" in entries[0]["reason"]
    assert "support" in entries[1]["reason"]
    assert "bob" in entries[0]["actor"]
    assert "alice" in entries[1]["actor"]
    assert entries[0]["createdAt"] > entries[1]["createdAt"]


def test_users_show_prints_the_account_as_json(invoke: Invoke) -> None:
    invoke("credits", "grant", EMAIL, "4", "--reason", "support")

    result = invoke("users", "show", EMAIL.upper(), "--json")

    assert result.exit_code == 0, result.output
    account = json.loads(result.stdout)
    assert account["email"] == EMAIL
    assert account["balance"] == 4
    assert account["hasPassword"] is True
    assert account["isGoogleAccount"] is False
    assert account["createdAt"]


def test_users_show_prints_a_line_for_people(invoke: Invoke) -> None:
    result = invoke("users", "show", EMAIL)

    assert result.exit_code == 0, result.output
    line = one_line(result.stdout)
    assert EMAIL in line
    assert "0 credits" in line
    assert "password account" in line


def test_history_of_a_user_without_entries_is_an_empty_list(invoke: Invoke) -> None:
    result = invoke("credits", "history", EMAIL, "--json")

    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize(
    "args",
    [
        ["credits", "show", "nobody@example.com"],
        ["credits", "grant", "nobody@example.com", "5", "--reason", "support"],
        ["credits", "revoke", "nobody@example.com", "5", "--reason", "support"],
        ["credits", "history", "nobody@example.com"],
        ["users", "show", "nobody@example.com"],
    ],
    ids=["show", "grant", "revoke", "history", "users-show"],
)
def test_an_unknown_email_fails_with_one_line(invoke: Invoke, args: Sequence[str]) -> None:
    result = invoke(*args)

    assert result.exit_code != 0
    assert "nobody@example.com" in one_line(result.stderr)
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["grant", "revoke"])
def test_a_missing_reason_is_a_usage_error(invoke: Invoke, command: str) -> None:
    result = invoke("credits", command, EMAIL, "5")

    assert result.exit_code == 2
    assert "--reason" in result.stderr
    assert balance(invoke) == 0


@pytest.mark.parametrize("command", ["grant", "revoke"])
@pytest.mark.parametrize("amount", ["0", "-3", "five"])
def test_an_amount_that_is_not_a_positive_whole_number_is_a_usage_error(
    invoke: Invoke, command: str, amount: str
) -> None:
    result = invoke("credits", command, EMAIL, amount, "--reason", "support")

    assert result.exit_code == 2
    assert balance(invoke) == 0


def test_an_amount_over_a_million_is_refused_with_one_line(invoke: Invoke) -> None:
    result = invoke("credits", "grant", EMAIL, "1000001", "--reason", "support")

    assert result.exit_code != 0
    assert one_line(result.stderr)
    assert balance(invoke) == 0


def test_a_blank_reason_is_refused_with_one_line(invoke: Invoke) -> None:
    result = invoke("credits", "grant", EMAIL, "5", "--reason", "   ")

    assert result.exit_code != 0
    assert one_line(result.stderr)
    assert balance(invoke) == 0


@pytest.mark.parametrize("option", ["--reason", "--actor"])
@pytest.mark.parametrize("command", ["grant", "revoke"])
@pytest.mark.parametrize(
    "text",
    [
        "alice\n2030-01-01 00:00:00 +999 admin_grant: forged (admin:root)",
        "carol\rmallory",
        "\x1b]0;owned\x07\x1b[31mred",
        "dave\x00",
        "\u202eevil",
    ],
    ids=["newline", "carriage return", "terminal escapes", "NUL", "bidi override"],
)
def test_reason_and_actor_refuse_control_characters_and_newlines_alike(
    invoke: Invoke, option: str, command: str, text: str
) -> None:
    invoke("credits", "grant", EMAIL, "5", "--reason", "support", "--actor", "alice")
    values = {"--reason": "support", "--actor": "alice", option: text}

    result = invoke("credits", command, EMAIL, "1", *[v for o in values.items() for v in o])

    assert result.exit_code == 1, result.output
    assert f"The {option.removeprefix('--')} must be one line" in one_line(result.stderr)
    assert balance(invoke) == 5
    history = json.loads(invoke("credits", "history", EMAIL, "--json").stdout)
    assert len(history) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["credits", "show", EMAIL],
        ["credits", "grant", EMAIL, "5", "--reason", "support"],
        ["credits", "history", EMAIL, "--json"],
        ["worker"],
        ["db", "migrate"],
        # --workers 2 would be refused anyway, so a regression cannot start a server here.
        ["serve", "--workers", "2"],
    ],
    ids=["show", "grant", "history", "worker", "db-migrate", "serve"],
)
def test_a_malformed_setting_stops_any_command_with_one_line_naming_it(
    args: Sequence[str],
) -> None:
    context = CliContext({"JOB_WORKERS": "x"}, allow_memory_admin=True)

    result = CliRunner().invoke(cli, list(args), obj=context)

    assert result.exit_code != 0
    assert "JOB_WORKERS" in one_line(result.stderr)


# --- the CLI contract: version, help, JSON errors, exit codes, the HTTP API's names ------


def test_version_and_short_help(invoke: Invoke) -> None:
    version = invoke("--version")
    short_help = invoke("credits", "grant", "-h")

    assert version.exit_code == 0
    assert version.stdout.strip() == "picpaygo 0.1.0"
    assert short_help.exit_code == 0
    assert "--reason" in short_help.stdout


def test_with_json_a_refusal_is_a_json_error_on_stderr_and_exit_1(invoke: Invoke) -> None:
    result = invoke("credits", "revoke", EMAIL, "5", "--reason", "oops", "--json")

    assert result.exit_code == 1
    assert result.stdout == ""
    error = json.loads(one_line(result.stderr))
    assert list(error) == ["error"]
    assert "below zero" in error["error"]


def test_with_json_an_unknown_email_is_a_json_error(invoke: Invoke) -> None:
    result = invoke("users", "show", "nobody@example.com", "--json")

    assert result.exit_code == 1
    assert "nobody@example.com" in json.loads(one_line(result.stderr))["error"]


def test_with_json_a_configuration_error_is_json_and_exit_2() -> None:
    context = CliContext({"JOB_WORKERS": "x"}, allow_memory_admin=True)

    result = CliRunner().invoke(cli, ["credits", "show", EMAIL, "--json"], obj=context)

    assert result.exit_code == 2
    assert "JOB_WORKERS" in json.loads(one_line(result.stderr))["error"]


@pytest.mark.parametrize("json_flag", [[], ["--json"]], ids=["text", "json"])
def test_several_configuration_errors_are_one_line_each(json_flag: list[str]) -> None:
    context = CliContext({"JOB_WORKERS": "x", "PORT": "0", "LOG_LEVEL": "loud"})

    result = CliRunner().invoke(cli, ["credits", "show", EMAIL, *json_flag], obj=context)

    assert result.exit_code == 2
    if json_flag:
        lines = json.loads(one_line(result.stderr))["error"].splitlines()
    else:
        lines = [line.removeprefix("error: ") for line in result.stderr.splitlines()]
    assert sorted(line.split()[0] for line in lines) == ["JOB_WORKERS", "LOG_LEVEL", "PORT"]


@pytest.mark.parametrize(
    "args",
    [
        ["credits", "show", EMAIL],
        ["credits", "grant", EMAIL, "5", "--reason", "support"],
        ["users", "show", EMAIL, "--json"],
        ["payments", "list"],
    ],
    ids=["credits-show", "grant", "users-show", "payments-list"],
)
def test_a_command_refuses_to_create_an_embedded_database_where_there_is_none(
    tmp_path: Path, args: list[str]
) -> None:
    data_dir = tmp_path / "elsewhere" / ".picpaygo"
    context = CliContext({"PICPAYGO_DATA_DIR": str(data_dir)})

    result = CliRunner().invoke(cli, args, obj=context)

    assert result.exit_code == 2
    assert result.stdout == ""
    line = one_line(result.stderr)
    assert "PICPAYGO_DATA_DIR" in line
    assert str(data_dir) in line
    assert not data_dir.exists()


def test_a_relative_data_directory_is_named_in_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(cli, ["credits", "show", EMAIL], obj=CliContext({}))

    assert result.exit_code == 2
    assert str(tmp_path / ".picpaygo") in one_line(result.stderr)
    assert not (tmp_path / ".picpaygo").exists()


def test_arguments_that_are_not_utf8_are_a_usage_error_without_traceback(invoke: Invoke) -> None:
    result = invoke("credits", "grant", "ad\udcffa@example.com", "5", "--reason", "x\udcfe")

    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert balance(invoke) == 0


def test_json_output_uses_the_http_apis_names_and_rfc3339_utc_times(invoke: Invoke) -> None:
    granted = json.loads(invoke("credits", "grant", EMAIL, "3", "--reason", "x", "--json").stdout)
    user = json.loads(invoke("users", "show", EMAIL, "--json").stdout)
    [entry] = json.loads(invoke("credits", "history", EMAIL, "--json").stdout)

    assert set(granted) == {"id", "email", "balance"}
    assert {"id", "isGoogleAccount", "createdAt", "lastLoginAt"} <= set(user)
    assert "userId" not in user
    assert "googleAccount" not in user
    assert user["createdAt"].endswith("Z")
    assert entry["createdAt"].endswith("Z")
    assert "+00:00" not in json.dumps([granted, user, entry])


# --- payments ---------------------------------------------------------------------------------


def bought(prepared: Container, *packs: int, email: str = EMAIL) -> list[str]:
    """Buy ``packs`` as ``email`` (instant payments); the purchase ids, oldest first."""

    async def buy() -> list[str]:
        user = await prepared.admin_service().show(email)
        caller = Caller(user=user.user, client_network="203.0.113.7")
        return [
            str((await prepared.credit_service().checkout(caller, pack)).purchase.id)
            for pack in packs
        ]

    return asyncio.run(buy())


def test_payments_list_shows_a_users_purchases_newest_first_as_json(
    invoke: Invoke, prepared: Container
) -> None:
    ids = bought(prepared, 5, 20)

    result = invoke("payments", "list", EMAIL, "--json")

    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [p["purchaseId"] for p in listed] == ids[::-1]
    assert listed[0]["pack"] == 20
    assert listed[0]["amount"] == 1600
    assert listed[0]["status"] == "paid"
    assert listed[0]["createdAt"].endswith("Z")


def test_payments_list_without_an_email_lists_everyones(
    invoke: Invoke, prepared: Container
) -> None:
    asyncio.run(prepared.auth_service().register(email="grace@example.com", password="x" * 12))
    ids = bought(prepared, 5) + bought(prepared, 10, email="grace@example.com")

    result = invoke("payments", "list")

    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert [line.split()[2] for line in lines] == ids[::-1]


def test_payments_show_prints_one_purchase(invoke: Invoke, prepared: Container) -> None:
    (purchase_id,) = bought(prepared, 10)

    shown = invoke("payments", "show", purchase_id, "--json")
    text = invoke("payments", "show", purchase_id)

    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["purchaseId"] == purchase_id
    assert json.loads(shown.stdout)["status"] == "paid"
    assert purchase_id in text.stdout


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["payments", "show", "00000000-0000-4000-8000-000000000000"], 1),
        (["payments", "list", "nobody@example.com"], 1),
    ],
)
def test_payments_commands_refuse_with_one_line(invoke: Invoke, args: list[str], code: int) -> None:
    result = invoke(*args)

    assert result.exit_code == code, result.output
    assert one_line(result.stderr)


def test_a_malformed_purchase_id_is_a_usage_error(invoke: Invoke) -> None:
    result = invoke("payments", "show", "not-a-uuid")

    assert result.exit_code == 2
    assert "not a valid UUID" in result.stderr


def test_credits_history_names_the_purchase_of_an_entry(
    invoke: Invoke, prepared: Container
) -> None:
    (purchase_id,) = bought(prepared, 5)

    result = invoke("credits", "history", EMAIL, "--json")

    assert json.loads(result.stdout)[0]["purchaseId"] == purchase_id


def test_pictures_migrate_without_a_picture_store_is_a_usage_error(invoke: Invoke) -> None:
    result = invoke("pictures", "migrate")

    assert result.exit_code == 2
    assert one_line(result.stderr).startswith(
        "error: picpaygo pictures migrate needs PICTURE_STORE=s3://bucket[/prefix]"
    )
