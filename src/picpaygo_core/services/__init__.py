"""Use cases: each public method is one thing a person or maintainer can do."""

from picpaygo_core.services.admin import AdminService
from picpaygo_core.services.admission import AdmissionService
from picpaygo_core.services.auth import AuthService
from picpaygo_core.services.credits import CreditService
from picpaygo_core.services.generation import GenerationService
from picpaygo_core.services.health import HealthService
from picpaygo_core.services.payment_events import PaymentEventService
from picpaygo_core.services.processing import JobProcessor
from picpaygo_core.services.purchases import PurchaseService
from picpaygo_core.services.retention import RetentionService
from picpaygo_core.services.workers import WorkerPool

__all__ = [
    "AdminService",
    "AdmissionService",
    "AuthService",
    "CreditService",
    "GenerationService",
    "HealthService",
    "JobProcessor",
    "PaymentEventService",
    "PurchaseService",
    "RetentionService",
    "WorkerPool",
]
