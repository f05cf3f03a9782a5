"""Thin HTTP controllers: parse, call one use case, shape the answer."""

from entrypoints.http.controllers.account import AccountController
from entrypoints.http.controllers.auth import AuthController
from entrypoints.http.controllers.credits import CreditsController
from entrypoints.http.controllers.generation import GenerationController
from entrypoints.http.controllers.health import HealthController
from entrypoints.http.controllers.metrics import MetricsController
from entrypoints.http.controllers.recovery import RecoveryController
from entrypoints.http.controllers.stripe_webhook import StripeWebhookController

__all__ = [
    "AccountController",
    "AuthController",
    "CreditsController",
    "GenerationController",
    "HealthController",
    "MetricsController",
    "RecoveryController",
    "StripeWebhookController",
]
