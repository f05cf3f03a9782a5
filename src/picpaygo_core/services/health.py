"""Is the service able to work: the checks behind ``/api/health``."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from picpaygo_core.errors import StorageUnavailable
from picpaygo_core.ports import HealthProbe, UnitOfWorkFactory

UNKNOWN_WHILE_STORAGE_DOWN = "unknown while the storage is unreachable"


class HealthReport(msgspec.Struct, frozen=True, kw_only=True):
    """``ok`` when every probe passed; ``degraded`` when an operator incident is open.

    ``checks`` has one entry per probe and per watched incident source: ``"ok"`` or the
    sentence saying what is wrong.
    """

    ok: bool
    degraded: bool
    checks: dict[str, str]


class HealthService:
    """Runs every health probe, and looks up open operator incidents, and reports both.

    A failed probe means the service cannot work (503). A failed ``degrading`` probe (the
    picture store) or an open incident (say, the image model refused the API key) means
    part of it does not: the report says so, but the process still serves everything
    else, so a load balancer should keep it.
    """

    def __init__(
        self,
        *,
        probes: Sequence[HealthProbe],
        degrading: Sequence[HealthProbe] = (),
        uow_factory: UnitOfWorkFactory | None = None,
        incident_sources: Sequence[str] = (),
    ) -> None:
        self._probes = probes
        self._degrading = degrading
        self._uow_factory = uow_factory
        self._incident_sources = incident_sources

    async def report(self) -> HealthReport:
        """One entry per probe and per watched incident source."""
        checks = {probe.name: await _checked(probe) for probe in self._probes}
        ok = all(v == "ok" for v in checks.values())
        partial = {probe.name: await _checked(probe) for probe in self._degrading}
        incidents = await self._incident_checks(storage_ok=ok)
        checks.update(partial)
        checks.update(incidents)
        degraded = any(v != "ok" for v in partial.values()) or any(
            v not in ("ok", UNKNOWN_WHILE_STORAGE_DOWN) for v in incidents.values()
        )
        return HealthReport(ok=ok, degraded=degraded, checks=checks)

    async def _incident_checks(self, *, storage_ok: bool) -> dict[str, str]:
        if not self._incident_sources or self._uow_factory is None:
            return {}
        unknown = dict.fromkeys(self._incident_sources, UNKNOWN_WHILE_STORAGE_DOWN)
        if not storage_ok:
            return unknown
        try:
            async with self._uow_factory() as uow:
                open_incidents = {i.source: i.message for i in await uow.incidents.list_open()}
        except StorageUnavailable:
            return unknown
        return {source: open_incidents.get(source, "ok") for source in self._incident_sources}


async def _checked(probe: HealthProbe) -> str:
    """``ok``, or the probe's sentence saying what is wrong."""
    try:
        problem = await probe.check()
    except Exception as exc:  # a probe must never take the health endpoint down
        problem = f"check failed: {exc.__class__.__name__}"
    return problem or "ok"
