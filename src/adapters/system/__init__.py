"""Adapters over the operating system: the real clock."""

from adapters.system.clock import SystemClock

__all__ = ["SystemClock"]
