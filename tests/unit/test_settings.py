"""load_settings: safe defaults, and one clear line naming the variable for a bad value."""

from __future__ import annotations

import ipaddress

import pytest

from entrypoints.container import generator_kind, policy_from
from entrypoints.settings import Settings, SettingsError, load_settings


def refusal(environ: dict[str, str]) -> str:
    """The message of the ``SettingsError`` that ``environ`` raises."""
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    return str(caught.value)


def test_an_empty_environment_gives_the_development_profile() -> None:
    settings = load_settings({})

    assert settings.env == "development"
    assert not settings.is_production


def test_the_seed_settings_keep_their_documented_defaults() -> None:
    settings = load_settings({})

    assert settings.database_url is None
    assert settings.google_client_id is None
    assert settings.openrouter_api_key is None
    assert settings.openrouter_model == "google/gemini-3-pro-image-preview"
    assert settings.session_ttl_hours == 168
    assert settings.default_free_credits == 3
    assert settings.cors_origins == ()


def test_the_deployment_settings_have_safe_defaults() -> None:
    settings = load_settings({})

    assert settings.openrouter_url == "https://openrouter.ai/api/v1"
    assert settings.max_upload_bytes == 10 * 1024 * 1024
    assert settings.session_cookie == "picpaygo_session"
    assert settings.session_cookie_secure is False
    assert settings.trusted_proxies == ()
    assert settings.payments_mode == "instant"
    assert settings.job_workers >= 1
    assert settings.job_timeout_seconds > 0
    assert settings.job_max_attempts >= 1


def test_the_defaults_are_those_of_the_settings_object() -> None:
    assert load_settings({}) == Settings()


def test_cors_origins_are_comma_separated_with_spaces_and_blanks_ignored() -> None:
    settings = load_settings({"CORS_ORIGINS": " https://a.example ,https://b.example,, "})

    assert settings.cors_origins == ("https://a.example", "https://b.example")


def test_trusted_proxies_are_parsed_as_networks() -> None:
    settings = load_settings({"TRUSTED_PROXIES": "10.0.0.0/8, ::1"})

    assert settings.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )


def test_a_trailing_slash_is_dropped_from_the_openrouter_url() -> None:
    settings = load_settings({"OPENROUTER_URL": "https://proxy.example/api/v1/"})

    assert settings.openrouter_url == "https://proxy.example/api/v1"


def test_values_are_read_with_surrounding_whitespace_trimmed() -> None:
    settings = load_settings({"JOB_WORKERS": " 4 ", "SESSION_COOKIE_SECURE": " TRUE "})

    assert settings.job_workers == 4
    assert settings.session_cookie_secure is True


def test_a_blank_value_means_the_default() -> None:
    assert load_settings({"SESSION_TTL_HOURS": "  ", "OPENROUTER_MODEL": ""}) == Settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("JOB_WORKERS", "abc"),
        ("JOB_WORKERS", "-1"),
        ("SESSION_TTL_HOURS", "0"),
        ("DEFAULT_FREE_CREDITS", "x"),
        ("TRUSTED_PROXIES", "notanip"),
        ("DATABASE_URL", "mysql://x"),
        ("OPENROUTER_URL", "ftp://x"),
        ("PICPAYGO_ENV", "staging"),
        ("SESSION_COOKIE_SECURE", "maybe"),
        ("SESSION_COOKIE", "a b"),
        ("SESSION_COOKIE", "caf\u00e9"),
        ("PAYMENTS_MODE", "stripe"),
        ("MAX_UPLOAD_BYTES", "1e9"),
        ("JOB_TIMEOUT_SECONDS", "nan"),
        ("JOB_TIMEOUT_SECONDS", "inf"),
        ("JOB_WORKERS", "1\n2"),
    ],
)
def test_a_malformed_value_is_refused_with_one_line_naming_the_variable(
    name: str, value: str
) -> None:
    message = refusal({name: value})

    assert name in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "environ",
    [
        {"PICPAYGO_ENV": "production"},
        {"PICPAYGO_ENV": "production", "SESSION_COOKIE_SECURE": "true"},
        {"PICPAYGO_ENV": "PRODUCTION", "PAYMENTS_MODE": "disabled"},
    ],
)
def test_production_without_a_database_is_refused_naming_database_url(
    environ: dict[str, str],
) -> None:
    message = refusal(environ)

    assert any(line.startswith("DATABASE_URL") for line in message.splitlines())


def test_production_reports_every_missing_setting_in_one_failure_one_line_each() -> None:
    message = refusal(
        {"PICPAYGO_ENV": "production", "PAYMENTS_MODE": "instant", "SESSION_COOKIE_SECURE": "no"}
    )

    lines = message.splitlines()
    assert [line.split()[0].split("=")[0] for line in lines] == [
        "DATABASE_URL",
        "OPENROUTER_API_KEY",
        "SESSION_COOKIE_SECURE",
        "PAYMENTS_MODE",
    ]


def test_malformed_values_and_production_gaps_are_reported_together() -> None:
    message = refusal({"PICPAYGO_ENV": "production", "PORT": "http", "JOB_WORKERS": "-1"})

    named = {line.split()[0] for line in message.splitlines()}
    assert {"PORT", "JOB_WORKERS", "DATABASE_URL", "OPENROUTER_API_KEY"} <= named


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://app:s3cr3tpw@db.internal:5432/app",
        "mysql://app:s3cr3tpw@db.internal/app",
        "s3cr3tpw",
    ],
)
def test_a_refused_database_url_is_never_echoed_with_its_password(url: str) -> None:
    message = refusal({"DATABASE_URL": url})

    assert message.startswith("DATABASE_URL must be a postgresql:// URL")
    assert "s3cr3tpw" not in message


def test_an_openrouter_key_selects_openrouter_with_its_settings() -> None:
    settings = load_settings(
        {
            "OPENROUTER_API_KEY": "sk-or-test",
            "OPENROUTER_URL": "http://127.0.0.1:9999/api/v1/",
            "OPENROUTER_CONNECT_TIMEOUT_SECONDS": "2.5",
            "OPENROUTER_READ_TIMEOUT_SECONDS": "30",
            "OPENROUTER_SITE_URL": "https://picpaygo.example",
            "OPENROUTER_APP_TITLE": "PicPayGo",
            "GENERATOR_MAX_CONCURRENCY": "7",
            "JOB_RETRY_BASE_SECONDS": "0.5",
            "JOB_RETRY_MAX_SECONDS": "20",
        }
    )

    assert generator_kind(settings) == "openrouter"
    assert settings.openrouter_url == "http://127.0.0.1:9999/api/v1"
    assert settings.openrouter_connect_timeout_seconds == 2.5
    assert settings.openrouter_read_timeout_seconds == 30.0
    assert settings.openrouter_site_url == "https://picpaygo.example"
    assert settings.openrouter_app_title == "PicPayGo"
    assert settings.generator_max_concurrency == 7
    policy = policy_from(settings)
    assert (policy.retry_base_seconds, policy.retry_max_seconds) == (0.5, 20.0)
    assert policy.generator_concurrency == 7


def test_without_an_openrouter_key_the_offline_generator_is_used() -> None:
    settings = load_settings({})

    assert generator_kind(settings) == "offline"
    assert settings.openrouter_site_url is None
    assert settings.generator_max_concurrency == 4


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"GENERATOR_MAX_CONCURRENCY": "0"}, "GENERATOR_MAX_CONCURRENCY"),
        ({"OPENROUTER_READ_TIMEOUT_SECONDS": "soon"}, "OPENROUTER_READ_TIMEOUT_SECONDS"),
        ({"OPENROUTER_CONNECT_TIMEOUT_SECONDS": "0"}, "OPENROUTER_CONNECT_TIMEOUT_SECONDS"),
        ({"OPENROUTER_SITE_URL": "picpaygo.example"}, "OPENROUTER_SITE_URL"),
        ({"JOB_RETRY_BASE_SECONDS": "-1"}, "JOB_RETRY_BASE_SECONDS"),
        ({"JOB_RETRY_BASE_SECONDS": "10", "JOB_RETRY_MAX_SECONDS": "5"}, "JOB_RETRY_MAX_SECONDS"),
        ({"JOB_DEADLINE_SECONDS": "60", "JOB_TIMEOUT_SECONDS": "90"}, "JOB_DEADLINE_SECONDS"),
    ],
)
def test_malformed_generator_settings_are_refused_naming_the_variable(
    environ: dict[str, str], variable: str
) -> None:
    message = refusal(environ)

    assert message.startswith(variable)
    assert "\n" not in message


def test_a_database_url_selects_postgresql_with_pool_settings() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://picpaygo@db/picpaygo",
            "DATABASE_POOL_SIZE": "25",
            "DATABASE_TIMEOUT_SECONDS": "2.5",
            "DATABASE_MIGRATE_ON_START": "yes",
            "JOB_POLL_SECONDS": "10",
        }
    )

    assert settings.database_url == "postgresql://picpaygo@db/picpaygo"
    assert settings.database_pool_size == 25
    assert settings.database_timeout_seconds == 2.5
    assert settings.database_migrate_on_start is True
    assert settings.job_poll_seconds == 10.0


def test_the_database_settings_have_safe_defaults() -> None:
    settings = load_settings({})

    assert settings.database_pool_size == 10
    assert settings.database_timeout_seconds == 5.0
    assert settings.database_migrate_on_start is False
    assert settings.job_poll_seconds == 2.0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_POOL_SIZE", "0"),
        ("DATABASE_POOL_SIZE", "ten"),
        ("DATABASE_TIMEOUT_SECONDS", "0.1"),
        ("DATABASE_MIGRATE_ON_START", "maybe"),
        ("JOB_POLL_SECONDS", "-1"),
    ],
)
def test_a_malformed_database_setting_is_refused_naming_it(name: str, value: str) -> None:
    message = refusal({name: value})

    assert message.startswith(name)
    assert "\n" not in message


def test_a_wildcard_cors_origin_is_refused_because_the_api_uses_cookies() -> None:
    message = refusal({"CORS_ORIGINS": "https://app.example, *"})

    assert "CORS_ORIGINS" in message
    assert "\n" not in message


def test_pack_prices_and_currency_have_the_documented_defaults() -> None:
    policy = policy_from(load_settings({}))

    assert policy.pack_prices == {5: 500, 10: 900, 20: 1600}
    assert policy.currency == "usd"


def test_pack_prices_and_currency_are_read_from_the_environment() -> None:
    policy = policy_from(
        load_settings({"CREDIT_PACK_PRICES": " 20:1500, 5:499,10:990 ", "PAYMENTS_CURRENCY": "EUR"})
    )

    assert policy.pack_prices == {5: 499, 10: 990, 20: 1500}
    assert policy.currency == "eur"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CREDIT_PACK_PRICES", "5:500,10:900"),
        ("CREDIT_PACK_PRICES", "5:500,10:900,20:1600,50:3000"),
        ("CREDIT_PACK_PRICES", "5:500,5:400,10:900,20:1600"),
        ("CREDIT_PACK_PRICES", "5:0,10:900,20:1600"),
        ("CREDIT_PACK_PRICES", "5=500,10=900,20=1600"),
        ("CREDIT_PACK_PRICES", "five:500"),
        ("PAYMENTS_CURRENCY", "dollars"),
        ("PAYMENTS_CURRENCY", "u$d"),
    ],
)
def test_malformed_payment_settings_are_refused_naming_the_variable(name: str, value: str) -> None:
    message = refusal({name: value})

    assert message.startswith(name)
    assert "\n" not in message
