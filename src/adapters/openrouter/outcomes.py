"""What an OpenRouter answer means for the job: OpenRouter's HTTP details become the
core's outcomes (transient, permanent for this job, or an operator problem)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

from picpaygo_core.models import OperatorFailure, PermanentFailure, TransientFailure

CONTENT_POLICY: Final = "The image was refused by the model's content policy."
UNUSABLE_PHOTO: Final = "The image model could not use this photo."
REQUEST_REFUSED: Final = "The image model refused this request."

# Worth another try later: timeouts, rate limits, the provider or its model being down.
TRANSIENT_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})

ProviderFailure = TransientFailure | PermanentFailure | OperatorFailure


def failure_for_status(
    status: int,
    message: str,
    *,
    model: str,
    retry_after: float | None = None,
) -> ProviderFailure:
    """The outcome of an OpenRouter error, from its status (or the ``error.code`` of a
    200 answer) and its message."""
    said = f"OpenRouter answered {status}" + (f": {message}" if message else "")
    if status == 401:
        return OperatorFailure(
            message=f"OpenRouter refused the API key ({said}); check OPENROUTER_API_KEY"
        )
    if status == 402:
        return OperatorFailure(
            message=f"OpenRouter is out of credits for this key ({said}); add credits"
        )
    if status == 404:
        return OperatorFailure(
            message=f"OpenRouter does not serve the model {model!r} ({said}); "
            "check OPENROUTER_MODEL"
        )
    if status == 403:
        return PermanentFailure(message=CONTENT_POLICY)
    if status in (400, 413, 415, 422):
        return PermanentFailure(message=UNUSABLE_PHOTO)
    if status in TRANSIENT_STATUSES or status >= 500 or status < 400:
        return TransientFailure(reason=said, retry_after=retry_after)
    return PermanentFailure(message=REQUEST_REFUSED)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (a number or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds == float("inf"):  # NaN or infinite
        return None
    return max(seconds, 0.0)
