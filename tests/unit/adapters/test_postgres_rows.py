"""Rows are read into domain values by column name, never by position."""

from __future__ import annotations

import msgspec
import pytest

from adapters.postgres.rows import MissingColumn, struct_of
from picpaygo_core.models import Category, Job, Session, User
from support.builders import a_job, a_session, a_user


def columns_of(value: msgspec.Struct, prefix: str = "") -> dict[str, object]:
    """The row a statement would return for ``value``: one column per field."""
    return {prefix + name: getattr(value, name) for name in value.__struct_fields__}


def test_a_row_whose_columns_come_in_another_order_is_read_by_name() -> None:
    user = a_user()
    row = dict(reversed(columns_of(user).items()))

    assert struct_of(User, row) == user


def test_a_column_the_value_does_not_have_is_ignored() -> None:
    user = a_user()
    row = {"stripe_id": "cus_1", **columns_of(user), "balance": 5}

    assert struct_of(User, row) == user


def test_a_missing_column_fails_loudly_even_for_a_field_with_a_default() -> None:
    row = columns_of(a_user())
    del row["last_login_location"]  # the field defaults to None

    with pytest.raises(MissingColumn, match="User needs columns last_login_location"):
        struct_of(User, row)


def test_a_value_of_a_joined_row_is_read_from_its_prefixed_columns() -> None:
    user = a_user()
    session = a_session(user)
    row = {**columns_of(user), **columns_of(session, "session_")}

    assert struct_of(Session, row, "session_") == session
    assert struct_of(User, row) == user


def test_a_missing_prefixed_column_fails_loudly() -> None:
    row = columns_of(a_session(a_user()), "session_")
    del row["session_expires_at"]

    with pytest.raises(MissingColumn, match="Session needs column 'session_expires_at'"):
        struct_of(Session, row, "session_")


def test_text_columns_become_the_enums_of_the_value() -> None:
    job = a_job()
    read = struct_of(Job, {**columns_of(job), "category": "portraits", "status": "queued"})

    assert read == job
    assert read.category is Category.PORTRAITS


def test_a_column_of_the_wrong_type_is_refused_rather_than_kept() -> None:
    row = {**columns_of(a_user()), "id": "not a uuid"}

    with pytest.raises(msgspec.ValidationError, match=r"Invalid UUID.*\$\.id"):
        struct_of(User, row)
