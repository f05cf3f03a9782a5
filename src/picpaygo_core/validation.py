"""Checks of user-supplied values, raising ``InvalidInput`` with a sentence that says why."""

from __future__ import annotations

import re

from picpaygo_core.errors import InvalidCategory, InvalidInput
from picpaygo_core.models import Category

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 100

_EMAIL_PATTERN = re.compile(
    r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s.\x00-\x1f\x7f]+(\.[^@\s.\x00-\x1f\x7f]+)+$"
)
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def normalise_email(email: str) -> str:
    """The email as stored: trimmed. Raises ``InvalidInput`` unless it looks like an address."""
    email = email.strip()
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL_PATTERN.match(email):
        raise InvalidInput("Enter a valid email address.")
    return email


def check_password(password: str) -> None:
    """Refuse passwords that are too short to be safe or too long to hash sensibly."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"Password must be at least {MIN_PASSWORD_LENGTH} characters long.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"Password must be at most {MAX_PASSWORD_LENGTH} characters long.")


def clean_name(value: str | None, field: str) -> str | None:
    """A trimmed optional name, None when blank; refuses absurdly long ones."""
    if value is None:
        return None
    value = value.strip()
    if _CONTROL_CHARACTERS.search(value):
        raise InvalidInput(f"{field} must not contain control characters.")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidInput(f"{field} must be at most {MAX_NAME_LENGTH} characters long.")
    return value or None


def parse_category(value: str) -> Category:
    """The category named by ``value``; raises ``InvalidCategory`` for anything else."""
    try:
        return Category(value.strip().lower())
    except ValueError:
        raise InvalidCategory from None


def check_amount(amount: int) -> None:
    """A credit amount must be a positive whole number of sensible size."""
    if amount < 1:
        raise InvalidInput("Amount must be at least 1.")
    if amount > 1_000_000:
        raise InvalidInput("Amount must be at most 1000000.")
