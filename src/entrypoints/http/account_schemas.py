"""The JSON shapes of the account endpoints: mailed links, passwords, erasure."""

from __future__ import annotations

from typing import Annotated

from entrypoints.http.schemas import Email, Request, Response, doc
from picpaygo_core.validation import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

NewPassword = Annotated[
    str,
    doc(
        "The new password (never stored, only its Argon2id hash).",
        "correct horse battery staple",
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
    ),
]
LinkToken = Annotated[
    str,
    doc("The token from the mailed link (the part after `?verify=` or `?reset=`).", "Qm9v..."),
]


class VerifyEmailRequest(Request):
    """The token of a mailed verification link."""

    token: LinkToken


class ForgotPasswordRequest(Request):
    """Whose password to reset."""

    email: Email


class ResetPasswordRequest(Request):
    """The token of a mailed reset link and the new password."""

    token: LinkToken
    password: NewPassword


class ChangePasswordRequest(Request):
    """The current password and the new one."""

    current_password: Annotated[
        str,
        doc("The account's current password.", "old horse", max_length=MAX_PASSWORD_LENGTH),
    ]
    new_password: NewPassword


class DeleteAccountRequest(Request):
    """What confirms the erasure: the password, or a fresh Google ID token."""

    password: Annotated[
        str | None, doc("The account's password.", max_length=MAX_PASSWORD_LENGTH)
    ] = None
    credential: Annotated[
        str | None,
        doc("A Google ID token from a fresh sign-in with the account's Google identity."),
    ] = None


class SentResponse(Response):
    """A mail was queued (or, for an unknown email, the same answer anyway)."""

    sent: Annotated[bool, doc("Always true.", True)]
