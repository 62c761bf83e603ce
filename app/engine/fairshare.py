"""Which due jobs a claim takes: round-robin across workspaces when more are due than there are slots,
never more than ``INTEGRATION_CONCURRENCY`` running jobs per integration, and never more than a workspace's
share of the scheduler's jobs in flight (``workspace_cap``; engine.slots shares the threads themselves).

One workspace's backlog or slow destination must not delay another's jobs: with 2,000 jobs of workspace A
waiting, the 20 that B submits next are taken at the next claim, not after A's. Picking only chooses ids;
the claim itself stays the queue's compare-and-set, atomic across processes. The cap is counted from the
running jobs in the store at each claim, so with several processes it can be passed by a few jobs for a
moment (two processes claiming at once), never by more than one claim batch.

Cost: when fewer jobs are due than slots (the usual case) one extra read of the running jobs' config ids.
Only when more are due than slots: one grouped count of pending jobs by integration (with each
integration's workspace, which its jobs carry), and one indexed read per integration that gets slots.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pymongo.collection import Collection

from app.engine.slots import workspace_of
from app.models import JobStatus, PluginJob

PENDING, RUNNING = JobStatus.PENDING.value, JobStatus.RUNNING.value
WAITING_COUNT_CAP = 10_000  # due jobs counted per integration at its cap, for /metrics


@dataclass
class Pick:
    """The jobs to claim, and how many due jobs wait because their integration is at its cap."""

    jobs: list[dict[str, Any]] = field(default_factory=list)
    waiting_for_cap: int = 0
    backlogged: set[str] = field(default_factory=set)  # integrations with due jobs left waiting


def running_per_config(coll: Collection) -> Counter[str]:
    return Counter(job.get("config_id") for job in coll.find({"status": RUNNING}, {"config_id": 1}))


def waiting_for_cap(cap: int, now: float | None = None) -> int:
    """Due jobs, in the whole store, whose integration already runs ``cap`` jobs (for /metrics), counted
    up to WAITING_COUNT_CAP per integration: its pending jobs by equality along the (status, config_id)
    index (a ``$in`` of integrations beside a time range made nx-27017 walk every job held, each scrape)."""
    if cap <= 0:
        return 0
    coll = PluginJob._get_collection()
    full = [config_id for config_id, n in running_per_config(coll).items() if n >= cap]
    now = time.time() if now is None else now
    return sum(
        1
        for config_id in full
        for job in coll.find(
            {"status": {"$eq": PENDING}, "config_id": {"$eq": config_id}},
            {"scheduled_for": 1},
            limit=WAITING_COUNT_CAP,
        )
        if (job.get("scheduled_for") or 0) <= now
    )


def within_cap(
    due: Iterable[dict[str, Any]],
    running: Counter[str],
    cap: int,
    workspaces: Counter[str] | None = None,
    workspace_cap: int = 0,
) -> Pick:
    """Keep due jobs (in order) while their integration has fewer than ``cap`` running or kept, and their
    workspace fewer than ``workspace_cap`` (counting ``workspaces``, jobs in flight by workspace)."""
    pick, taken, held = Pick(), Counter(running), Counter(workspaces)
    for job in due:
        over_workspace = workspace_cap > 0 and held[workspace_of(job)] >= workspace_cap
        if (cap > 0 and taken[job["config_id"]] >= cap) or over_workspace:
            pick.waiting_for_cap += 1
            pick.backlogged.add(job["config_id"])
            continue
        taken[job["config_id"]] += 1
        held[workspace_of(job)] += 1
        pick.jobs.append(job)
    return pick


class Group(NamedTuple):
    """An integration's pending jobs: how many, the earliest ``scheduled_for``, and its workspace."""

    n: int
    due: float | None
    workspace_id: str | None


def pending_groups(coll: Collection) -> dict[str, Group]:
    """Pending jobs by integration (config id). Reads them all."""
    groups = coll.aggregate(
        [
            {"$match": {"status": PENDING}},
            {
                "$group": {
                    "_id": "$config_id",
                    "n": {"$sum": 1},
                    "due": {"$min": "$scheduled_for"},
                    "workspace_id": {"$max": "$workspace_id"},  # one value: an integration has one workspace
                }
            },
        ]
    )
    return {g["_id"]: Group(g["n"], g["due"], g.get("workspace_id")) for g in groups}


class PendingGroups:
    """``pending_groups``, read again at most every ``max_age`` seconds.

    Grouping reads every pending job: with thousands waiting, too dear for every claim (each claim of a
    busy scheduler would pay for the whole backlog). A few seconds old is enough to share slots out: an
    integration whose jobs appeared since gets its slots at the next read at the latest.
    """

    def __init__(self, max_age: float = 1.0):
        self.max_age = max_age
        self._read_at = -max_age
        self._groups: dict[str, Group] = {}

    def get(self, coll: Collection) -> dict[str, Group]:
        now = time.monotonic()
        if now - self._read_at >= self.max_age:
            self._groups, self._read_at = pending_groups(coll), now
        return self._groups


def round_robin(
    coll: Collection,
    limit: int,
    cap: int,
    now: float | None = None,
    running: Counter[str] | None = None,
    groups: dict[str, Group] | None = None,
    workspaces: Counter[str] | None = None,
    workspace_cap: int = 0,
    turn: int = 0,
) -> Pick:
    """Pick up to ``limit`` due jobs one integration at a time, one workspace at a time.

    ``running``: running jobs per integration that count against ``cap`` (all in the store by default);
    ``groups``: ``pending_groups`` (read now by default); ``workspaces``: jobs in flight by workspace, which
    count against ``workspace_cap`` (0: none); ``turn``: the claim's number (see ``_in_turn``).
    """
    now = time.time() if now is None else now
    groups = pending_groups(coll) if groups is None else groups
    due = {config_id: g.n for config_id, g in groups.items() if g.due is not None and g.due <= now}
    running = running_per_config(coll) if running is None else running
    pick = Pick()
    room: dict[str, int] = {}
    for config_id, n in due.items():
        free = n if cap <= 0 else max(0, min(n, cap - running[config_id]))
        pick.waiting_for_cap += n - free
        if free:
            room[config_id] = free
    by_workspace: dict[Any, list[str]] = defaultdict(list)
    for config_id in _in_turn(sorted(room), turn):
        by_workspace[groups[config_id].workspace_id].append(config_id)
    slots: Counter[str] = Counter()
    held, capped = Counter(workspaces), set()
    left = limit
    while left > 0 and any(by_workspace.values()):
        for workspace, configs in by_workspace.items():
            if workspace_cap > 0 and held[str(workspace or "")] >= workspace_cap:
                configs.clear()  # its share is taken: the rest waits like jobs over an integration's cap
                capped.add(workspace)
            if not configs or left <= 0:
                continue
            held[str(workspace or "")] += 1
            config_id = configs.pop(0)  # the workspace's next integration; back of its line if it has room
            slots[config_id] += 1
            left -= 1
            if slots[config_id] < room[config_id]:
                configs.append(config_id)
    pick.backlogged = {config_id for config_id, n in due.items() if slots[config_id] < n}
    pick.waiting_for_cap += sum(room[c] - slots[c] for c in room if groups[c].workspace_id in capped)
    pick.jobs = _read_slots(coll, slots, now)
    return pick


def _in_turn(config_ids: list[str], turn: int) -> list[str]:
    """``config_ids`` starting one further at each claim (``turn``: the claimer's count of its claims). A
    slot left over after an even share goes to the first: always the same one, its backlog drained ahead
    of the others', the oldest pending jobs became the others' alone, and ``_read_slots``'s one read left
    the first short at almost every claim (1.7 reads more per claim in a drain of three backlogs,
    bench/drain_profile.py)."""
    if not config_ids:
        return config_ids
    turn %= len(config_ids)
    return config_ids[turn:] + config_ids[:turn]


def _read_slots(coll: Collection, slots: Counter[str], now: float) -> list[dict[str, Any]]:
    """Up to ``slots[config_id]`` due jobs of each integration. One read of them all (each read costs the
    store as much as a dozen jobs), then one read per integration it left short, as when one integration's
    older jobs came first. The read takes three times the slots: with twice, a drain of three backlogs
    still needed 0.8 reads more per claim, with three 0.07 (bench/drain_profile.py)."""
    due = {"status": PENDING, "scheduled_for": {"$lte": now}}
    jobs: list[dict[str, Any]] = []
    short = Counter(slots)
    if len(slots) > 1:
        for job in coll.find({**due, "config_id": {"$in": list(slots)}}).limit(3 * sum(slots.values())):
            if short[job["config_id"]] > 0:
                short[job["config_id"]] -= 1
                jobs.append(job)
    for config_id, missing in short.items():
        if missing > 0:
            have = {job["_id"] for job in jobs if job["config_id"] == config_id}
            jobs.extend(
                [job for job in _due_of(coll, config_id, missing + len(have), now) if job["_id"] not in have][
                    :missing
                ]
            )
    return jobs


def _due_of(coll: Collection, config_id: str, n: int, now: float) -> list[dict[str, Any]]:
    """Up to ``n`` due jobs of one integration. Its oldest pending ones on the ``(status, config_id)``
    index, due filtered here; only when some of those are scheduled for later (retries) the range on
    ``scheduled_for`` too. A backlog of one integration is claimed a few jobs at a time (its cap), so this
    read runs every few jobs: on nx-27017 the ranged read took 3.5 ms of the store's time in a drain, half
    of that without the range (bench/drain_profile.py)."""
    oldest = list(coll.find({"status": PENDING, "config_id": config_id}).limit(n))
    due = [job for job in oldest if job["scheduled_for"] <= now]
    if len(due) == len(oldest):
        return due
    return list(
        coll.find({"status": PENDING, "config_id": config_id, "scheduled_for": {"$lte": now}}).limit(n)
    )
