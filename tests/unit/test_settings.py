"""load_settings: safe defaults, and one clear line naming the variable for a bad value."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest

from entrypoints.container import generator_kind
from entrypoints.settings import Settings, SettingsError, load_settings
from picpaygo_core.policy import Policy

# What production needs to send mail.
MAIL = {
    "PUBLIC_URL": "https://picpaygo.example",
    "MAIL_URL": "smtp://mailer:smtp-secret@smtp.example:587",
    "MAIL_FROM": "PicPayGo <noreply@picpaygo.example>",
}


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

    assert settings.database.url is None
    assert settings.google.client_id is None
    assert settings.openrouter.api_key is None
    assert settings.openrouter.model == "google/gemini-3-pro-image-preview"
    assert settings.policy.session_ttl == timedelta(hours=168)
    assert settings.policy.free_credits == 3
    assert settings.server.cors_origins == ()


def test_the_deployment_settings_have_safe_defaults() -> None:
    settings = load_settings({})

    assert settings.openrouter.url == "https://openrouter.ai/api/v1"
    assert settings.policy.max_upload_bytes == 10 * 1024 * 1024
    assert settings.sessions.cookie == "picpaygo_session"
    assert settings.sessions.cookie_secure is False
    assert settings.server.trusted_proxies == ()
    assert settings.payments.mode == "instant"
    assert settings.jobs.workers >= 1
    assert settings.policy.job_timeout_seconds > 0
    assert settings.policy.job_max_attempts >= 1


def test_the_defaults_are_those_of_the_settings_object() -> None:
    assert load_settings({}) == Settings()


def test_cors_origins_are_comma_separated_with_spaces_and_blanks_ignored() -> None:
    settings = load_settings({"CORS_ORIGINS": " https://a.example ,https://b.example,, "})

    assert settings.server.cors_origins == ("https://a.example", "https://b.example")


def test_trusted_proxies_are_parsed_as_networks() -> None:
    settings = load_settings({"TRUSTED_PROXIES": "10.0.0.0/8, ::1"})

    assert settings.server.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )


def test_a_trailing_slash_is_dropped_from_the_openrouter_url() -> None:
    settings = load_settings({"OPENROUTER_URL": "https://proxy.example/api/v1/"})

    assert settings.openrouter.url == "https://proxy.example/api/v1"


def test_values_are_read_with_surrounding_whitespace_trimmed() -> None:
    settings = load_settings({"JOB_WORKERS": " 4 ", "SESSION_COOKIE_SECURE": " TRUE "})

    assert settings.jobs.workers == 4
    assert settings.sessions.cookie_secure is True


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
        ("PAYMENTS_MODE", "paypal"),
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
    lines = refusal(environ).splitlines()

    assert any(line.startswith("DATABASE_URL") for line in lines)


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
        "PUBLIC_URL",
        "MAIL_URL",
        "MAIL_FROM",
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

    assert message.startswith("DATABASE_URL must be a postgresql:// URL or memory://")
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
    assert settings.openrouter.url == "http://127.0.0.1:9999/api/v1"
    assert settings.openrouter.connect_timeout_seconds == 2.5
    assert settings.openrouter.read_timeout_seconds == 30.0
    assert settings.openrouter.site_url == "https://picpaygo.example"
    assert settings.openrouter.app_title == "PicPayGo"
    assert settings.policy.generator_concurrency == 7
    policy = settings.policy
    assert (policy.retry_base_seconds, policy.retry_max_seconds) == (0.5, 20.0)
    assert policy.generator_concurrency == 7


def test_without_an_openrouter_key_the_offline_generator_is_used() -> None:
    settings = load_settings({})

    assert generator_kind(settings) == "offline"
    assert settings.openrouter.site_url is None
    assert settings.policy.generator_concurrency == 4


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

    assert settings.database.url == "postgresql://picpaygo@db/picpaygo"
    assert settings.database.pool_size == 25
    assert settings.database.timeout_seconds == 2.5
    assert settings.database.migrate_on_start is True
    assert settings.jobs.poll_seconds == 10.0


def test_the_database_settings_have_safe_defaults() -> None:
    settings = load_settings({})

    assert settings.database.pool_size == 10
    assert settings.database.timeout_seconds == 5.0
    assert settings.database.migrate_on_start is False
    assert settings.jobs.poll_seconds == 2.0


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


def test_memory_url_asks_for_in_memory_storage() -> None:
    assert load_settings({"DATABASE_URL": "memory://"}).database.url == "memory://"
    assert load_settings({"DATABASE_URL": "MEMORY://"}).database.url == "memory://"


def test_postgres_urls_of_both_spellings_are_accepted() -> None:
    for url in ("postgresql://app@db/picpaygo", "postgres://app@db/picpaygo"):
        assert load_settings({"DATABASE_URL": url}).database.url == url


def test_the_data_directory_defaults_to_picpaygo_in_the_current_directory() -> None:
    assert load_settings({}).database.data_dir == Path(".picpaygo")
    assert load_settings({"PICPAYGO_DATA_DIR": "/srv/data"}).database.data_dir == Path("/srv/data")


def test_every_refused_value_is_reported_at_once_one_line_each() -> None:
    lines = refusal({"JOB_WORKERS": "many", "PORT": "0", "LOG_LEVEL": "loud"}).splitlines()

    assert sorted(line.split(" ", 1)[0] for line in lines) == ["JOB_WORKERS", "LOG_LEVEL", "PORT"]


def test_production_has_its_own_defaults_for_cookies_and_payments() -> None:
    settings = load_settings(
        {
            "PICPAYGO_ENV": "production",
            "DATABASE_URL": "postgresql://app@db/picpaygo",
            "OPENROUTER_API_KEY": "sk-or-test",
            "PAYMENTS_MODE": "disabled",
            **MAIL,
        }
    )

    assert settings.sessions.cookie_secure is True
    assert settings.payments.mode == "disabled"


def test_the_policy_defaults_are_the_cores_own() -> None:
    assert load_settings({}).policy == Policy()
    assert Policy().max_image_pixels == 50_000_000


@pytest.mark.parametrize(
    ("name", "value", "field", "expected"),
    [
        ("DEFAULT_FREE_CREDITS", "0", "free_credits", 0),
        ("SESSION_TTL_HOURS", "2", "session_ttl", timedelta(hours=2)),
        ("MAX_UPLOAD_BYTES", "2048", "max_upload_bytes", 2048),
        ("MAX_IMAGE_PIXELS", "1000", "max_image_pixels", 1000),
        ("JOB_TIMEOUT_SECONDS", "30", "job_timeout_seconds", 30.0),
        ("JOB_DEADLINE_SECONDS", "600", "job_deadline_seconds", 600.0),
        ("JOB_MAX_ATTEMPTS", "5", "job_max_attempts", 5),
        ("JOB_LEASE_SECONDS", "10", "job_lease_seconds", 10.0),
        ("JOB_RETRY_BASE_SECONDS", "1", "retry_base_seconds", 1.0),
        ("JOB_RETRY_MAX_SECONDS", "60", "retry_max_seconds", 60.0),
        ("GENERATOR_MAX_CONCURRENCY", "9", "generator_concurrency", 9),
        ("OUTPUT_RETENTION_HOURS", "24", "output_retention", timedelta(hours=24)),
        ("AUTH_ATTEMPTS_PER_MINUTE", "0", "auth_attempts_per_minute", 0),
        ("CREDIT_PACK_PRICES", "5:1,10:2,20:3", "pack_prices", {5: 1, 10: 2, 20: 3}),
        ("PAYMENTS_CURRENCY", "eur", "currency", "eur"),
    ],
)
def test_each_policy_variable_sets_its_policy_field_and_nothing_else(
    name: str, value: str, field: str, expected: object
) -> None:
    policy = load_settings({name: value}).policy

    assert policy == msgspec.structs.replace(Policy(), **{field: expected})


def test_pack_prices_and_currency_have_the_documented_defaults() -> None:
    policy = load_settings({}).policy

    assert policy.pack_prices == {5: 500, 10: 900, 20: 1600}
    assert policy.currency == "usd"


def test_pack_prices_and_currency_are_read_from_the_environment() -> None:
    policy = load_settings(
        {"CREDIT_PACK_PRICES": " 20:1500, 5:499,10:990 ", "PAYMENTS_CURRENCY": "EUR"}
    ).policy

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


STRIPE = {
    "PAYMENTS_MODE": "stripe",
    "STRIPE_SECRET_KEY": "sk_test_secret_value",
    "STRIPE_WEBHOOK_SECRET": "whsec_secret_value",
    "CHECKOUT_SUCCESS_URL": "https://app.example/paid?session={CHECKOUT_SESSION_ID}",
    "CHECKOUT_CANCEL_URL": "https://app.example/cancelled",
}
PRODUCTION = {
    "PICPAYGO_ENV": "production",
    "DATABASE_URL": "postgresql://picpaygo@db/picpaygo",
    "OPENROUTER_API_KEY": "sk-or-secret",
    **MAIL,
}


def test_stripe_mode_reads_every_stripe_setting() -> None:
    payments = load_settings({**STRIPE, "STRIPE_API_BASE": "http://127.0.0.1:9999/"}).payments

    assert payments.mode == "stripe"
    assert payments.stripe_secret_key == "sk_test_secret_value"
    assert payments.stripe_webhook_secret == "whsec_secret_value"
    assert payments.stripe_api_base == "http://127.0.0.1:9999"
    assert payments.checkout_success_url == STRIPE["CHECKOUT_SUCCESS_URL"]
    assert payments.checkout_cancel_url == STRIPE["CHECKOUT_CANCEL_URL"]


def test_the_stripe_api_base_defaults_to_stripe() -> None:
    assert load_settings(STRIPE).payments.stripe_api_base == "https://api.stripe.com"


def test_stripe_mode_without_its_settings_names_every_missing_one_at_once() -> None:
    message = refusal({"PAYMENTS_MODE": "stripe"})

    lines = message.splitlines()
    assert [line.split()[0] for line in lines] == [
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "CHECKOUT_SUCCESS_URL",
        "CHECKOUT_CANCEL_URL",
    ]


def test_production_accepts_stripe_with_every_setting() -> None:
    settings = load_settings({**PRODUCTION, **STRIPE})

    assert settings.payments.mode == "stripe"


def test_production_accepts_payments_explicitly_disabled() -> None:
    assert load_settings({**PRODUCTION, "PAYMENTS_MODE": "disabled"}).payments.mode == "disabled"


@pytest.mark.parametrize("mode", [None, "instant"])
def test_production_refuses_free_or_unchosen_payments(mode: str | None) -> None:
    environ = dict(PRODUCTION)
    if mode:
        environ["PAYMENTS_MODE"] = mode

    message = refusal(environ)

    assert message.startswith("PAYMENTS_MODE")
    assert "stripe" in message


def test_production_reports_every_problem_at_once_one_line_each_without_secrets() -> None:
    environ = {
        "PICPAYGO_ENV": "production",
        "SESSION_COOKIE_SECURE": "false",
        "PAYMENTS_MODE": "stripe",
        "STRIPE_SECRET_KEY": "sk_live_do_not_print",
    }

    lines = refusal(environ).splitlines()

    assert [line.split()[0] for line in lines] == [
        "DATABASE_URL",
        "OPENROUTER_API_KEY",
        "SESSION_COOKIE_SECURE",
        "PUBLIC_URL",
        "MAIL_URL",
        "MAIL_FROM",
        "STRIPE_WEBHOOK_SECRET",
        "CHECKOUT_SUCCESS_URL",
        "CHECKOUT_CANCEL_URL",
    ]
    assert not any("do_not_print" in line for line in lines)


def test_the_mail_settings_are_read_and_checked() -> None:
    settings = load_settings({**MAIL, "PASSWORD_RESET_TTL_MINUTES": "45"})
    assert settings.mail.public_url == "https://picpaygo.example"
    assert settings.mail.url == MAIL["MAIL_URL"]
    assert settings.mail.sender == MAIL["MAIL_FROM"]
    assert settings.policy.password_reset_ttl.total_seconds() == 45 * 60
    assert load_settings({}).policy.password_reset_ttl.total_seconds() == 30 * 60
    assert load_settings({}).mail.public_url == "http://127.0.0.1:8081"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAIL_URL", "http://smtp.example"),
        ("MAIL_URL", "smtp://smtp.example:99999"),
        ("MAIL_URL", "smtp://smtp.example:0"),
        ("PUBLIC_URL", "picpaygo.example"),
        ("PASSWORD_RESET_TTL_MINUTES", "0"),
    ],
)
def test_a_malformed_mail_setting_is_one_line_naming_it(name: str, value: str) -> None:
    [line] = refusal({name: value}).splitlines()
    assert line.startswith(name)


def test_a_mail_url_password_is_never_shown() -> None:
    message = refusal({"MAIL_URL": "smtp://mailer:smtp-secret@:x"})
    assert "smtp-secret" not in message


def test_production_refuses_mail_kept_in_memory() -> None:
    message = refusal({**PRODUCTION, "PAYMENTS_MODE": "disabled", "MAIL_URL": "memory://"})
    assert message.startswith("MAIL_URL=memory://")


def test_pictures_stay_in_the_database_unless_a_store_is_named() -> None:
    pictures = load_settings({}).pictures

    assert pictures.store is None
    assert (pictures.region, pictures.url_ttl_seconds) == ("us-east-1", 300)


def test_a_picture_store_names_its_bucket_and_prefix() -> None:
    pictures = load_settings(
        {
            "PICTURE_STORE": "s3://my-bucket/deploy/pictures/",
            "S3_ENDPOINT_URL": "http://127.0.0.1:9000/",
            "S3_REGION": "auto",
            "AWS_ACCESS_KEY_ID": "AKIA1",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "PICTURE_URL_TTL_SECONDS": "60",
        }
    ).pictures

    assert (pictures.bucket, pictures.prefix) == ("my-bucket", "deploy/pictures")
    assert pictures.endpoint_url == "http://127.0.0.1:9000"
    assert (pictures.region, pictures.url_ttl_seconds) == ("auto", 60)


def test_a_malformed_picture_store_is_one_line_naming_it() -> None:
    assert refusal({"PICTURE_STORE": "gs://bucket"}) == (
        "PICTURE_STORE must be s3://bucket or s3://bucket/prefix, got 'gs://bucket'"
    )


def test_a_half_given_key_pair_is_refused_without_showing_the_secret() -> None:
    message = refusal({"PICTURE_STORE": "s3://bucket", "AWS_SECRET_ACCESS_KEY": "hunter2-secret"})

    assert "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together" in message
    assert "hunter2" not in message
