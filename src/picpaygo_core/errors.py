"""Domain errors. Each says, in a sentence a person can read, what went wrong.

The HTTP entrypoint maps each class to a status code in one place; the core knows
nothing of HTTP.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the core raises on purpose."""

    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class InvalidInput(DomainError):
    """A value is well-formed but not acceptable (bad email, short password, ...)."""

    default_message = "The request contains an invalid value."


class InvalidCategory(InvalidInput):
    default_message = "Category must be one of: portraits, editorial, documentary."


class InvalidPack(InvalidInput):
    default_message = "Pack must be 5, 10 or 20 credits."


class BalanceLimitExceeded(InvalidInput):
    default_message = "A balance can hold at most 1,000,000,000,000 credits."


class EmailTaken(DomainError):
    default_message = "An account with this email already exists."


class InvalidCredentials(DomainError):
    default_message = "Invalid email or password."


class NotAuthenticated(DomainError):
    default_message = "You need to be signed in."


class InvalidGoogleToken(DomainError):
    default_message = "The Google sign-in could not be verified."


class GoogleUnavailable(DomainError):
    default_message = "Google could not be reached to check the sign-in; try again shortly."


class GoogleLoginDisabled(DomainError):
    default_message = "Google sign-in is not configured on this server."


class Throttled(DomainError):
    """Refused for now, not for ever: ``retry_after`` (seconds) says when to try again."""

    default_message = "Too many requests. Try again later."

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManyAttempts(Throttled):
    """Too many sign-in attempts from one network; ``retry_after`` says when to try again."""

    default_message = "Too many attempts. Try again in a minute."


class TooManyPendingCheckouts(Throttled):
    """The account holds as many unfinished checkouts as it may; ``retry_after`` says when
    the oldest of them stops counting (its payment page closes)."""

    default_message = (
        "The account holds as many unfinished checkouts as it may (5). Finish one of "
        "them, or try again after Retry-After seconds, when the oldest one's payment page "
        "has closed; nothing was stored and no payment page was opened."
    )


class InsufficientCredits(DomainError):
    default_message = "Not enough credits."


class PaymentsNotConfigured(DomainError):
    default_message = "Payments are not configured on this server."


class PaymentProviderRefused(DomainError):
    """The payment provider refused our request (bad key, invalid request): an operator issue."""

    default_message = "The payment provider refused the request; no money was taken."


class PaymentProviderUnavailable(DomainError):
    """The payment provider could not be reached, timed out or is overloaded: try again."""

    default_message = (
        "The payment provider is not answering right now; no money was taken. Try again shortly."
    )


class InvalidPaymentEvent(DomainError):
    """A payment notification without a valid signature, or one that is not an event."""

    default_message = "The payment event could not be verified."


class PurchaseNotFound(DomainError):
    default_message = "No such purchase."


class JobNotFound(DomainError):
    default_message = "No such generation job."


class TooManyStreams(DomainError):
    """The caller already follows as many jobs live as one caller may."""

    default_message = (
        "Too many live progress streams are open from here. Close one, or ask for the job's state."
    )


class ImageNotFound(DomainError):
    default_message = "No image for this job."


class ImageTooLarge(DomainError):
    default_message = "The image is too large."


class UnsupportedImage(DomainError):
    default_message = "The file is not a JPEG, PNG or WebP image."


class UserNotFound(DomainError):
    default_message = "No user with this email."


class DuplicateLedgerEntry(DomainError):
    """A ledger entry with the same idempotency key was already recorded."""

    default_message = "This credit change was already recorded."


class StorageUnavailable(DomainError):
    """The storage behind the ports cannot be reached right now."""

    default_message = "The service's storage is unavailable; try again shortly."


class PictureStoreUnavailable(DomainError):
    """The picture store (where picture bytes live) cannot be reached right now."""

    default_message = "The picture store is unavailable; try again shortly."


class PictureMissing(DomainError):
    """The picture store holds no object under the key asked for."""

    default_message = "The picture is no longer kept."


class IdempotencyKeyReused(InvalidInput):
    default_message = (
        "This Idempotency-Key was already used for a different request; use a new key."
    )


class RequestInProgress(DomainError):
    default_message = "A request with this Idempotency-Key is still being processed; retry shortly."


class InvalidAccountLink(DomainError):
    """A mailed link's token that is unknown, expired, used, or meant for something else."""

    default_message = "This link is invalid or has expired; ask for a new one."


class EmailAlreadyVerified(DomainError):
    default_message = "This email address is already verified."


class WrongPassword(InvalidCredentials):
    default_message = "The current password is wrong."


class ConfirmationMissing(DomainError):
    default_message = (
        "Confirm with your password or a fresh Google sign-in (password or credential)."
    )


class ConfirmationFailed(DomainError):
    default_message = "The confirmation did not match this account; nothing was changed."


class MailDeliveryFailed(DomainError):
    """The mail transport refused a mail or could not be reached (``transient`` says
    whether trying again later may work)."""

    default_message = "The mail could not be delivered."

    def __init__(self, message: str | None = None, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient
