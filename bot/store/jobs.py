"""APScheduler's job table (``apscheduler_jobs``): where the scheduler keeps one job per
subscription, read in batches and streamed.

:class:`JobStore` overrides two private members of APScheduler 3's ``SQLAlchemyJobStore``
(``_reconstitute_job`` and ``_get_jobs``; APScheduler is pinned below 4 in ``pyproject.toml``):
the first binds each loaded job and shares equal triggers, the second streams the table and
drops jobs that cannot be restored.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from datetime import datetime
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.triggers.cron import CronTrigger
from apscheduler.util import datetime_to_utc_timestamp
from sqlalchemy import bindparam, select

log = logging.getLogger(__name__)

JOB_TABLE = "apscheduler_jobs"
#: Due jobs loaded per pass of APScheduler's loop: the rest come in the next pass, at once.
DUE_BATCH = 500
#: Rows fetched at a time when reading the job table (a server-side cursor on PostgreSQL).
READ_BATCH = 500


class JobStore(SQLAlchemyJobStore):
    """APScheduler's SQLAlchemy job store, handing each job it loads to ``bind`` first.

    The scheduler's ``bind`` gives a loaded job what it runs with (its context); the stored job
    keeps naming its function with the subscription id as its only argument, so it pickles as
    before and only the loaded copy is bound.

    While APScheduler processes due jobs (from :meth:`get_due_jobs` until it asks
    :meth:`get_next_run_time`), the jobs' new run times are written in one transaction instead
    of one each: ten thousand jobs due at once would otherwise hold the loop for seconds and
    fight the digests for SQLite's write lock. A crash before that write makes the jobs run
    again on start-up, which the digests' dedup keys make harmless.

    Reading the table streams it (PostgreSQL's client would otherwise hold every row at once),
    and due jobs come :data:`DUE_BATCH` at a time: ten thousand due jobs are twenty passes of
    APScheduler's loop, each asking for the next at once, not ten thousand jobs in memory.
    """

    def __init__(self, bind: Callable[[Job], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bind = bind
        self._batching = False
        self._updates: list[dict[str, object]] = []
        self._triggers: dict[tuple[object, ...], CronTrigger] = {}

    def _reconstitute_job(self, job_state: bytes) -> Job:
        job: Job = super()._reconstitute_job(job_state)
        self.bind(job)
        # Cron triggers hold no run state: jobs with the same weekly time share one (~4 KB each).
        trigger = job.trigger
        if isinstance(trigger, CronTrigger):
            key = (type(trigger), str(trigger), str(trigger.timezone), trigger.jitter)
            job.trigger = self._triggers.setdefault(key, trigger)
        return job

    def _get_jobs(self, *conditions: Any, limit: int | None = None) -> list[Job]:
        """The jobs matching ``conditions``, soonest first, streamed; unreadable ones removed."""
        table = self.jobs_t
        query = select(table.c.id, table.c.job_state).order_by(table.c.next_run_time)
        if conditions:
            query = query.where(*conditions)
        if limit is not None:
            query = query.limit(limit)
        jobs: list[Job] = []
        broken: list[str] = []
        with self.engine.begin() as conn:
            for row in conn.execution_options(yield_per=READ_BATCH).execute(query):
                try:
                    jobs.append(self._reconstitute_job(row.job_state))
                except Exception:  # as APScheduler does: log it and drop the job
                    log.exception("scheduler: cannot restore job %s, removing it", row.id)
                    broken.append(row.id)
            if broken:
                conn.execute(table.delete().where(table.c.id.in_(broken)))
        return jobs

    def fingerprints(self) -> dict[str, tuple[str, dict[str, Any], int | None]]:
        """Each stored job's (name, kwargs, misfire grace), read one row at a time."""
        self._flush()
        table = self.jobs_t
        out: dict[str, tuple[str, dict[str, Any], int | None]] = {}
        with self.engine.connect().execution_options(yield_per=READ_BATCH) as conn:
            for job_id_, state in conn.execute(select(table.c.id, table.c.job_state)):
                try:
                    data = pickle.loads(state)
                except Exception:  # APScheduler drops what it cannot restore; so do we
                    continue
                out[job_id_] = (data["name"], data["kwargs"], data["misfire_grace_time"])
        return out

    def get_due_jobs(self, now: datetime) -> list[Job]:
        self._flush()
        due = self.jobs_t.c.next_run_time <= datetime_to_utc_timestamp(now)
        jobs = self._get_jobs(due, limit=DUE_BATCH)
        self._batching = True
        return jobs

    def update_job(self, job: Job) -> None:
        if not self._batching:
            super().update_job(job)
            return
        self._updates.append(
            {
                "job_id": job.id,
                "next_run": datetime_to_utc_timestamp(job.next_run_time),
                "state": pickle.dumps(job.__getstate__(), self.pickle_protocol),
            }
        )

    def get_next_run_time(self) -> datetime | None:
        self._flush()
        return super().get_next_run_time()

    def lookup_job(self, job_id: str) -> Job | None:
        self._flush()
        return super().lookup_job(job_id)

    def get_all_jobs(self) -> list[Job]:
        self._flush()
        return super().get_all_jobs()

    def add_job(self, job: Job) -> None:
        self._flush()
        super().add_job(job)

    def remove_job(self, job_id: str) -> None:
        self._flush()
        super().remove_job(job_id)

    def remove_all_jobs(self) -> None:
        self._flush()
        super().remove_all_jobs()

    def shutdown(self) -> None:
        self._flush()
        super().shutdown()

    def _flush(self) -> None:
        self._batching = False
        updates, self._updates = self._updates, []
        if not updates:
            return
        table = self.jobs_t
        with self.engine.begin() as conn:
            conn.execute(
                table.update()
                .where(table.c.id == bindparam("job_id"))
                .values(next_run_time=bindparam("next_run"), job_state=bindparam("state")),
                updates,
            )
