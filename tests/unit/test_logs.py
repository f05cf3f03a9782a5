"""Log lines: both formats, the request id, and secrets masked."""

from __future__ import annotations

import json
import logging

import pytest

from entrypoints.logs import (
    JsonFormatter,
    TextFormatter,
    redact,
    register_secret,
    request_id_var,
)


def record(
    message: str, *args: object, fields: dict[str, object] | None = None
) -> logging.LogRecord:
    made = logging.LogRecord("picpaygo.test", logging.INFO, __file__, 1, message, args, None)
    if fields is not None:
        made.fields = fields
    return made


def test_a_json_line_has_time_level_logger_message_and_fields() -> None:
    line = json.loads(JsonFormatter().format(record("job %s done", "j1", fields={"attempts": 2})))

    assert line["level"] == "INFO"
    assert line["logger"] == "picpaygo.test"
    assert line["message"] == "job j1 done"
    assert line["attempts"] == 2
    assert line["ts"].endswith("Z")


def test_a_text_line_appends_the_fields_as_key_value() -> None:
    line = TextFormatter().format(record("done", fields={"job_id": "j1", "outcome": "succeeded"}))

    assert line.endswith("INFO picpaygo.test: done job_id=j1 outcome=succeeded")


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()])
def test_every_line_written_during_a_request_carries_its_id(formatter: logging.Formatter) -> None:
    token = request_id_var.set("req-7")
    try:
        line = formatter.format(record("anything"))
    finally:
        request_id_var.reset(token)

    assert "req-7" in line


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()])
def test_url_passwords_and_registered_secrets_never_reach_a_line(
    formatter: logging.Formatter,
) -> None:
    register_secret("sk-canary-key-123")

    line = formatter.format(
        record("connect to %s with %s", "postgresql://app:pw-canary@db/app", "sk-canary-key-123")
    )

    assert "pw-canary" not in line
    assert "sk-canary-key-123" not in line
    assert "postgresql://app:***@db/app" in line


def test_redact_leaves_urls_without_a_password_alone() -> None:
    assert redact("https://openrouter.ai/api/v1 and postgresql://db/app") == (
        "https://openrouter.ai/api/v1 and postgresql://db/app"
    )


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()])
def test_the_http_servers_lines_are_shown_as_granian(formatter: logging.Formatter) -> None:
    made = logging.LogRecord("_granian", logging.INFO, __file__, 1, "Listening", (), None)

    line = formatter.format(made)

    assert "_granian" not in line
    assert "granian" in line
