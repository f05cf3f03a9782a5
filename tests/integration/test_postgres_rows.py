"""PostgreSQL rows come back by column name, so a statement's columns may come in any
order, and one a value needs but the statement lacks fails loudly."""

from __future__ import annotations

import pytest

from adapters.postgres import PostgresDatabase, PostgresUnitOfWorkFactory
from adapters.postgres.rows import MissingColumn, struct_of
from adapters.postgres.users import USER_COLUMNS
from picpaygo_core.models import User
from support.builders import a_user


async def a_stored_user(database: PostgresDatabase) -> User:
    user = a_user()
    async with PostgresUnitOfWorkFactory(database)() as uow:
        await uow.users.add(user)
        await uow.commit()
    return user


async def test_the_columns_of_a_user_read_in_reverse_order_make_the_same_user(
    database: PostgresDatabase,
) -> None:
    user = await a_stored_user(database)
    reversed_columns = ", ".join(reversed(USER_COLUMNS.split(", ")))

    async with database.connection() as conn:
        row = await conn.fetch_one(f"SELECT {reversed_columns} FROM users".encode())  # noqa: S608

    assert row is not None
    assert next(iter(row)) == "email_verified"
    assert struct_of(User, row) == user


async def test_a_statement_lacking_a_column_of_the_user_fails_instead_of_misreading(
    database: PostgresDatabase,
) -> None:
    await a_stored_user(database)
    lacking = ", ".join(c for c in USER_COLUMNS.split(", ") if c != "last_login_at")

    async with database.connection() as conn:
        row = await conn.fetch_one(f"SELECT {lacking} FROM users".encode())  # noqa: S608

    assert row is not None
    with pytest.raises(MissingColumn, match="last_login_at"):
        struct_of(User, row)
