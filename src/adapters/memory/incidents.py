"""In-memory incidents: ongoing problems an operator must fix, one per source."""

from __future__ import annotations

from adapters.memory.store import MemoryRepository
from picpaygo_core.models import Incident


class MemoryIncidentRepository(MemoryRepository):
    """Open incidents by source."""

    async def open(self, incident: Incident) -> bool:
        if incident.source in self._store.incidents:
            return False
        self._journal.put(self._store.incidents, incident.source, incident)
        return True

    async def close(self, source: str) -> Incident | None:
        incident = self._store.incidents.get(source)
        self._journal.pop(self._store.incidents, source)
        return incident

    async def list_open(self) -> list[Incident]:
        return sorted(self._store.incidents.values(), key=lambda incident: incident.started_at)
