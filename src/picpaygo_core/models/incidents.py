"""Incidents: ongoing problems an operator must fix."""

from __future__ import annotations

from datetime import datetime

import msgspec


class Incident(msgspec.Struct, frozen=True, kw_only=True):
    """An ongoing problem an operator must fix (say, the image model's key was refused).

    At most one is open per ``source``; it stays open until that source works again.
    """

    source: str
    message: str
    started_at: datetime
