"""Checks of user-supplied values, raising ``InvalidInput`` with a sentence that says why."""

from __future__ import annotations

import re
import unicodedata

from picpaygo_core.errors import InvalidCategory, InvalidInput
from picpaygo_core.models import Category

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 100

_EMAIL_PATTERN = re.compile(
    r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s.\x00-\x1f\x7f]+(\.[^@\s.\x00-\x1f\x7f]+)+$"
)
# Unicode categories no person types on purpose: controls (NUL, newlines), format
# characters (soft hyphen, zero-width joiners, bidi overrides), lone surrogates, private
# use and unassigned code points. They hide what a name or address really is.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
MAX_BALANCE = 1_000_000_000_000


def has_invisible_characters(value: str) -> bool:
    """True when ``value`` holds a control, format, surrogate, private or unassigned character."""
    return any(unicodedata.category(char) in _INVISIBLE_CATEGORIES for char in value)


def is_storable_text(value: str) -> bool:
    """True when ``value`` can be stored as text anywhere: no NUL, no lone surrogate."""
    return "\x00" not in value and not any(unicodedata.category(char) == "Cs" for char in value)


def normalise_email(email: str) -> str:
    """The email as stored: trimmed and in Unicode NFKC form.

    Raises ``InvalidInput`` unless it looks like an address without invisible characters.
    """
    if has_invisible_characters(email):
        raise InvalidInput("An email address must not contain control or format characters.")
    email = unicodedata.normalize("NFKC", email.strip())
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL_PATTERN.match(email):
        raise InvalidInput("Enter a valid email address.")
    return email


def email_key(email: str) -> str:
    """How emails are compared, on every storage: NFKC, case-folded, NFKC again, trimmed.

    ``Ada@Example.com``, ``ada@example.com`` and the NFD and NFC spellings of ``café``
    have one key. Every user lookup by email goes through this key.
    """
    folded = unicodedata.normalize("NFKC", email).casefold()
    return unicodedata.normalize("NFKC", folded).strip()


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
    if has_invisible_characters(value):
        raise InvalidInput(f"{field} must not contain control or format characters.")
    value = unicodedata.normalize("NFKC", value.strip())
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidInput(f"{field} must be at most {MAX_NAME_LENGTH} characters long.")
    return value or None


def check_ledger_text(value: str, what: str, max_length: int) -> str:
    """A ledger entry's reason or actor (``what``): one line of visible text, trimmed.

    Raises ``InvalidInput`` for a blank value, a control or format character (a newline
    would forge a line in a printed history, a terminal escape would be replayed to every
    reader of the append-only ledger) and past ``max_length`` characters.
    """
    value = value.strip()
    if not value:
        raise InvalidInput(f"A {what} is required.")
    if has_invisible_characters(value):
        raise InvalidInput(f"The {what} must be one line without control or format characters.")
    if len(value) > max_length:
        raise InvalidInput(f"The {what} must be at most {max_length} characters long.")
    return value


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
