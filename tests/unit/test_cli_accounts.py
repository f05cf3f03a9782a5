"""``picpaygo users show/delete`` and ``picpaygo mail outbox/test`` on in-memory storage."""

from __future__ import annotations

import json

from click.testing import CliRunner

from adapters.mail import DevelopmentMailer
from entrypoints.cli import CliContext, cli
from entrypoints.container import Container
from support.cli import EMAIL, Invoke


def test_users_show_tells_whether_the_email_is_verified(invoke: Invoke) -> None:
    shown = invoke("users", "show", EMAIL, "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["emailVerified"] is False
    assert "email not verified" in invoke("users", "show", EMAIL).stdout


def test_users_delete_erases_the_account_and_frees_the_email(invoke: Invoke) -> None:
    missing_reason = invoke("users", "delete", EMAIL)
    assert missing_reason.exit_code == 2
    deleted = invoke("users", "delete", EMAIL, "--reason", "asked by mail", "--json")
    assert deleted.exit_code == 0, deleted.output
    assert json.loads(deleted.stdout)["erased"] is True
    gone = invoke("users", "show", EMAIL, "--json")
    assert gone.exit_code == 1
    assert "error" in json.loads(gone.stderr)
    again = invoke("users", "delete", EMAIL, "--reason", "twice")
    assert again.exit_code == 1


def test_mail_outbox_lists_queued_mail_without_its_links(invoke: Invoke) -> None:
    listed = invoke("mail", "outbox", "--json")
    assert listed.exit_code == 0, listed.output
    [mail] = json.loads(listed.stdout)
    assert mail["recipient"] == EMAIL
    assert mail["status"] == "queued"
    assert mail["attempts"] == 0
    assert "verify=" not in listed.stdout
    assert set(mail) == {
        "id",
        "recipient",
        "subject",
        "status",
        "attempts",
        "createdAt",
        "nextAttemptAt",
        "lastError",
    }
    assert mail["createdAt"].endswith("Z")


def test_mail_test_sends_through_the_configured_transport(
    invoke: Invoke, prepared: Container
) -> None:
    sent = invoke("mail", "test", "grace@example.com", "--json")
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.stdout)["sent"] is True
    mailer = prepared.mailer()
    assert isinstance(mailer, DevelopmentMailer)
    assert [m["To"] for m in mailer.messages] == ["grace@example.com"]
    assert invoke("mail", "test", "not an email").exit_code == 1


def test_mail_test_reports_an_unreachable_server_in_one_line() -> None:
    context = CliContext({"DATABASE_URL": "memory://", "MAIL_URL": "smtp://127.0.0.1:1"})
    result = CliRunner().invoke(cli, ["mail", "test", EMAIL], obj=context)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the SMTP server could not be reached")
    assert len(result.stderr.strip().splitlines()) == 1
