"""Emails and names: one normalisation, and no invisible characters."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from picpaygo_core.errors import InvalidInput
from picpaygo_core.validation import clean_name, email_key, normalise_email

INVISIBLE = {
    "NUL": "\x00",
    "newline": "\n",
    "soft hyphen": "\u00ad",
    "zero-width space": "\u200b",
    "right-to-left override": "\u202e",
    "left-to-right isolate": "\u2066",
    "lone surrogate": "\ud800",
}


@pytest.mark.parametrize("char", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_an_email_with_an_invisible_character_is_refused(char: str) -> None:
    with pytest.raises(InvalidInput):
        normalise_email(f"ad{char}a@example.com")


@pytest.mark.parametrize("char", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_a_name_with_an_invisible_character_is_refused(char: str) -> None:
    with pytest.raises(InvalidInput):
        clean_name(f"Ad{char}a", "Name")


def test_the_stored_email_is_nfkc_and_keeps_its_letter_case() -> None:
    assert normalise_email(unicodedata.normalize("NFD", " Café@Example.com ")) == (
        unicodedata.normalize("NFC", "Café@Example.com")
    )


@given(st.text(min_size=1, max_size=40))
def test_the_key_is_stable_under_normalisation_and_case(text: str) -> None:
    key = email_key(text)

    assert email_key(key) == key
    assert email_key(text.upper()) == email_key(text.upper().casefold())
    assert email_key(unicodedata.normalize("NFD", text)) == key
