"""Ports: what the core needs from the outside world, as ``typing.Protocol`` classes."""

from picpaygo_core.ports.accounts import (
    AccountEventRepository,
    AccountTokenRepository,
    MailOutboxRepository,
)
from picpaygo_core.ports.clock import Clock
from picpaygo_core.ports.generation import ImageGenerator, ImageInspector, JobWakeup
from picpaygo_core.ports.health import HealthProbe
from picpaygo_core.ports.mail import Mailer
from picpaygo_core.ports.payments import PaymentGateway
from picpaygo_core.ports.pictures import PictureStore
from picpaygo_core.ports.progress import JobChanges, JobWatch
from picpaygo_core.ports.security import GoogleTokenVerifier, PasswordHasher
from picpaygo_core.ports.session_reads import SessionReads
from picpaygo_core.ports.storage import (
    CreditRepository,
    FreeCreditRepository,
    ImageRepository,
    IncidentRepository,
    JobRepository,
    PurchaseRepository,
    SessionRepository,
    UnitOfWork,
    UnitOfWorkFactory,
    UserRepository,
)
from picpaygo_core.ports.throttle import AttemptThrottle

__all__ = [
    "AccountEventRepository",
    "AccountTokenRepository",
    "AttemptThrottle",
    "Clock",
    "CreditRepository",
    "FreeCreditRepository",
    "GoogleTokenVerifier",
    "HealthProbe",
    "ImageGenerator",
    "ImageInspector",
    "ImageRepository",
    "IncidentRepository",
    "JobChanges",
    "JobRepository",
    "JobWakeup",
    "JobWatch",
    "MailOutboxRepository",
    "Mailer",
    "PasswordHasher",
    "PaymentGateway",
    "PictureStore",
    "PurchaseRepository",
    "SessionReads",
    "SessionRepository",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UserRepository",
]
