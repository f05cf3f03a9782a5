"""Emails are compared by one key made in the core (NFKC, then case-folded), on every storage."""

from __future__ import annotations

import unicodedata

import msgspec
import pytest

from picpaygo_core.errors import EmailTaken
from picpaygo_core.ports import UnitOfWorkFactory
from picpaygo_core.validation import normalise_email
from support.builders import a_user

CAFE_NFC = unicodedata.normalize("NFC", "café@example.com")
CAFE_NFD = unicodedata.normalize("NFD", "café@example.com")


async def register(uow_factory: UnitOfWorkFactory, email: str) -> None:
    async with uow_factory() as uow:
        await uow.users.add(a_user(normalise_email(email)))
        await uow.commit()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (CAFE_NFC, CAFE_NFD),
        ("ada@example.com", "ADA@EXAMPLE.COM"),
        ("straße@example.com", "STRASSE@example.com"),
        ("ada@example.com", "\uff41\uff44\uff41@example.com"),  # fullwidth letters
    ],
)
async def test_spellings_of_one_address_are_one_account(
    uow_factory: UnitOfWorkFactory, first: str, second: str
) -> None:
    await register(uow_factory, first)

    with pytest.raises(EmailTaken):
        await register(uow_factory, second)
    async with uow_factory() as uow:
        found = await uow.users.find_by_email(second)
    assert found is not None
    assert found.email == normalise_email(first)


async def test_dotted_capital_i_and_plain_i_are_two_addresses_on_every_storage(
    uow_factory: UnitOfWorkFactory,
) -> None:
    await register(uow_factory, "i@example.com")
    await register(uow_factory, "İ@example.com")

    async with uow_factory() as uow:
        plain = await uow.users.find_by_email("I@example.com")
        dotted = await uow.users.find_by_email("İ@example.com")
    assert plain is not None
    assert dotted is not None
    assert plain.id != dotted.id


async def test_an_updated_email_moves_its_key(uow_factory: UnitOfWorkFactory) -> None:
    user = a_user(normalise_email(CAFE_NFC))
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.users.update(msgspec.structs.replace(user, email="Straße@example.com"))
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.users.find_by_email(CAFE_NFD) is None
        moved = await uow.users.find_by_email("STRASSE@EXAMPLE.COM")
    assert moved is not None
    assert moved.id == user.id
