"""The jobs on the bus: what the Manager's job methods and Reload hand over to.

Holds the scheduler and the daemon's reload; records each change in the audit log (who
asked to run, pause or resume which job, and each reload with its outcome).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from dbus_fast import Variant

from zfsyncd.bus import payloads
from zfsyncd.jobs.scheduler import Scheduler
from zfsyncd.tx.manager import Caller, TransactionManager

#: the daemon's reload: rereads the configuration, applies its jobs; the job names it now
#: has (ConfigError, naming each problem, when the file is bad: nothing changes then)
Reload = Callable[[], Awaitable[list[str]]]


class JobService:
    def __init__(self, scheduler: Scheduler, manager: TransactionManager, reload: Reload) -> None:
        self.scheduler = scheduler
        self._manager = manager
        self._reload = reload

    def rows(self) -> list[dict[str, Variant]]:
        return [payloads.as_dict(row) for row in self.scheduler.rows()]

    def get(self, name: str) -> dict[str, Variant]:
        return payloads.as_dict(self.scheduler.row(name))

    async def change(self, change: str, name: str, caller: Caller) -> None:
        """`run`, `pause` or `resume` the job, recorded in the audit log as job-CHANGE."""
        changes = {
            "run": self.scheduler.run_now,
            "pause": self.scheduler.pause,
            "resume": self.scheduler.resume,
        }
        try:
            await changes[change](name)
        except Exception as exc:
            await self._manager.core.record(
                f"job-{change}", f"refused: {exc}", caller, None, job=name
            )
            raise
        await self._manager.core.record(f"job-{change}", "ok", caller, None, job=name)

    async def reload(self, caller: Caller) -> list[str]:
        try:
            names = await self._reload()
        except Exception as exc:
            await self._manager.core.record("reload", f"refused: {exc}", caller, None)
            raise
        await self._manager.core.record("reload", "ok", caller, None, jobs=names)
        return names
