"""Sending the mail outbox: one mail at a time, retried with backoff, never twice at once."""

from __future__ import annotations

import logging
from datetime import timedelta

from picpaygo_core.errors import MailDeliveryFailed
from picpaygo_core.models import MailStatus, OutgoingMail
from picpaygo_core.ports import Clock, Mailer, UnitOfWorkFactory

logger = logging.getLogger(__name__)

# A mail being sent is not due again before this (a worker that died mid-send).
SEND_LEASE = timedelta(minutes=2)
# Transient failures are retried for this long after the mail was queued.
GIVE_UP_AFTER = timedelta(hours=24)
LONGEST_RETRY = timedelta(hours=1)
# Sent and failed mails (their bodies already emptied) are forgotten after this.
KEEP_FINISHED = timedelta(days=7)
MAX_ERROR_LENGTH = 500


def retry_delay(attempts: int, first: timedelta) -> timedelta:
    """How long to wait after the ``attempts``-th failed try: ``first``, doubling each
    time, at most an hour."""
    delay: timedelta = first * 2 ** min(max(attempts - 1, 0), 20)
    return min(delay, LONGEST_RETRY)


class MailSender:
    """Hands queued mails to the mail transport, as the job workers' companion."""

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        mailer: Mailer,
        clock: Clock,
        retry_base_seconds: float = 30.0,
    ) -> None:
        self._first_retry = timedelta(seconds=retry_base_seconds)
        self._uow_factory = uow_factory
        self._mailer = mailer
        self._clock = clock

    @property
    def transport(self) -> str:
        """Where the mail goes (for the logs)."""
        return self._mailer.description

    async def send_next(self) -> bool:
        """Send the oldest due mail, if any; True when there was one (sent or not).

        A 4xx answer or a connection failure leaves it queued for another try, with
        backoff, for up to 24 hours after it was queued; a 5xx answer fails it at once.
        """
        now = self._clock.now()
        async with self._uow_factory() as uow:
            mail = await uow.outbox.claim(now, now + SEND_LEASE)
            await uow.commit()
        if mail is None:
            return False
        try:
            await self._mailer.send(mail)
        except MailDeliveryFailed as exc:
            await self._not_sent(mail, exc)
        else:
            async with self._uow_factory() as uow:
                await uow.outbox.sent(mail.id, self._clock.now())
                await uow.commit()
            logger.info("mail %s (%s) sent, attempt %d", mail.id, mail.subject, mail.attempts)
        return True

    async def send_due(self) -> int:
        """Send every mail that is due now; how many were handled."""
        handled = 0
        while await self.send_next():
            handled += 1
        return handled

    async def pending(self, limit: int = 100) -> list[OutgoingMail]:
        """Queued and failed mails, oldest first."""
        async with self._uow_factory() as uow:
            return await uow.outbox.listed(frozenset({MailStatus.QUEUED, MailStatus.FAILED}), limit)

    async def purge_finished(self) -> int:
        """Forget mails sent or given up more than a week ago."""
        async with self._uow_factory() as uow:
            purged = await uow.outbox.purge_sent_before(self._clock.now() - KEEP_FINISHED)
            await uow.commit()
        return purged

    async def _not_sent(self, mail: OutgoingMail, exc: MailDeliveryFailed) -> None:
        now = self._clock.now()
        error = exc.message[:MAX_ERROR_LENGTH]
        async with self._uow_factory() as uow:
            if exc.transient and now - mail.created_at < GIVE_UP_AFTER:
                when = min(
                    now + retry_delay(mail.attempts, self._first_retry),
                    mail.created_at + GIVE_UP_AFTER,
                )
                await uow.outbox.retry_at(mail.id, when, error)
                logger.warning(
                    "mail %s (%s) not sent, attempt %d: %s; trying again at %s",
                    mail.id,
                    mail.subject,
                    mail.attempts,
                    error,
                    f"{when:%Y-%m-%d %H:%M:%S}",
                )
            else:
                await uow.outbox.failed(mail.id, error)
                logger.error(
                    "mail %s (%s) failed after %d attempt(s): %s",
                    mail.id,
                    mail.subject,
                    mail.attempts,
                    error,
                )
            await uow.commit()
