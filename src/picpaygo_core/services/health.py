"""Is the service able to work: the checks behind ``/api/health``."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from picpaygo_core.ports import HealthProbe


class HealthReport(msgspec.Struct, frozen=True, kw_only=True):
    """``ok`` when every check passed; ``problems`` names what failed and why."""

    ok: bool
    checks: dict[str, str]


class HealthService:
    """Runs every health probe and reports them together."""

    def __init__(self, *, probes: Sequence[HealthProbe]) -> None:
        self._probes = probes

    async def report(self) -> HealthReport:
        """One entry per probe: ``"ok"`` or the sentence saying what is wrong."""
        checks: dict[str, str] = {}
        for probe in self._probes:
            try:
                problem = await probe.check()
            except Exception as exc:  # a probe must never take the health endpoint down
                problem = f"check failed: {exc.__class__.__name__}"
            checks[probe.name] = problem or "ok"
        return HealthReport(ok=all(v == "ok" for v in checks.values()), checks=checks)
