"""Domain values: immutable msgspec Structs, changed with ``msgspec.structs.replace``.

One module per aggregate; every value is importable from ``picpaygo_core.models``.
"""

from __future__ import annotations

from picpaygo_core.models.accounts import (
    AccountEvent,
    AccountExport,
    AccountToken,
    ExportedPicture,
    MailStatus,
    OutgoingMail,
    TokenPurpose,
)
from picpaygo_core.models.caller import (
    Admission,
    Caller,
    CallerLookup,
)
from picpaygo_core.models.credits import (
    Charge,
    CreditSource,
    CreditsView,
    LedgerEntry,
    Spending,
    free_first,
)
from picpaygo_core.models.idempotency import (
    IdempotencyRecord,
    KeyClaim,
    StoredResponse,
)
from picpaygo_core.models.images import (
    CleanImage,
    ImageInfo,
    Picture,
    PictureLink,
    StoredImage,
    StoredObject,
    input_key,
    output_key,
)
from picpaygo_core.models.incidents import (
    Incident,
)
from picpaygo_core.models.jobs import (
    Category,
    Generated,
    GenerationOutcome,
    Job,
    JobMark,
    JobStatus,
    OperatorFailure,
    PermanentFailure,
    TransientFailure,
)
from picpaygo_core.models.payments import (
    CheckoutExpired,
    CheckoutFailed,
    CheckoutOutcome,
    CheckoutPaid,
    CheckoutSession,
    CheckoutUnpaid,
    IgnoredPaymentEvent,
    PaymentEvent,
    PaymentReversal,
    PaymentReversed,
    PendingCheckouts,
    Purchase,
    PurchaseStatus,
)
from picpaygo_core.models.users import (
    GoogleIdentity,
    Session,
    SignedIn,
    User,
)

__all__ = [
    "AccountEvent",
    "AccountExport",
    "AccountToken",
    "Admission",
    "Caller",
    "CallerLookup",
    "Category",
    "Charge",
    "CheckoutExpired",
    "CheckoutFailed",
    "CheckoutOutcome",
    "CheckoutPaid",
    "CheckoutSession",
    "CheckoutUnpaid",
    "CleanImage",
    "CreditSource",
    "CreditsView",
    "ExportedPicture",
    "Generated",
    "GenerationOutcome",
    "GoogleIdentity",
    "IdempotencyRecord",
    "IgnoredPaymentEvent",
    "ImageInfo",
    "Incident",
    "Job",
    "JobMark",
    "JobStatus",
    "KeyClaim",
    "LedgerEntry",
    "MailStatus",
    "OperatorFailure",
    "OutgoingMail",
    "PaymentEvent",
    "PaymentReversal",
    "PaymentReversed",
    "PendingCheckouts",
    "PermanentFailure",
    "Picture",
    "PictureLink",
    "Purchase",
    "PurchaseStatus",
    "Session",
    "SignedIn",
    "Spending",
    "StoredImage",
    "StoredObject",
    "StoredResponse",
    "TokenPurpose",
    "TransientFailure",
    "User",
    "free_first",
    "input_key",
    "output_key",
]
