"""Settings, read from the environment once into small typed objects, one per concern.

Each setting is declared once, where its field is (``sections``): its variable, its
default and its constraints. The domain's limits (free credits, session lifetime, upload
limits, job timings, ...) are the core's ``Policy``, read straight into it: its defaults
are the core's, stated there and nowhere else. ``reading`` turns the environment into
them with msgspec; ``rules`` holds the checks that span several variables.

A malformed value raises ``SettingsError`` with one line that names the variable and
says what it wants (never echoing a secret); when several are wrong, one line each.
"""

from entrypoints.settings.reading import SettingsError, load_settings, secret_values
from entrypoints.settings.sections import (
    MEMORY_URL,
    DatabaseSettings,
    GoogleSettings,
    JobSettings,
    MailSettings,
    Network,
    OpenRouterSettings,
    PaymentSettings,
    PaymentsMode,
    PictureSettings,
    Profile,
    ServerSettings,
    SessionSettings,
    Settings,
)

__all__ = [
    "MEMORY_URL",
    "DatabaseSettings",
    "GoogleSettings",
    "JobSettings",
    "MailSettings",
    "Network",
    "OpenRouterSettings",
    "PaymentSettings",
    "PaymentsMode",
    "PictureSettings",
    "Profile",
    "ServerSettings",
    "SessionSettings",
    "Settings",
    "SettingsError",
    "load_settings",
    "secret_values",
]
