"""A form and the enabled integrations its events go to, as the intake reads them: kept for a moment.

Every accepted submission needs the form (open? which fields? whose?) and its enabled configs (which
jobs to create). Reading both from the store for each submission doubled its round trips, so a process
keeps what it read for ``FORM_CACHE_SECONDS``. A write to forms or integrations made through this process
(any API or admin write not refused with a 4xx, see app/request_hooks.py, or the engine disabling an
integration) empties the cache
at once; one made through another process is seen within that time. The crash sweep and every other
reader go to the store.

What it buys (with workflows' FormWorkflows, both off with ``FORM_CACHE_SECONDS=0``; bench/onoff.py, 3
interleaved rounds): intake alone 344 (328–350) req/s on, 106 (94–106) off; end to end 101 (82–209)
against 70 (67–73) submissions/s.

The scheduler keeps configs by id the same way, but only healthy ones (``healthy``): a claim batch's
configs whose circuit is open or half-open, or counts failures, are read fresh, because their circuit
decides whether the job runs. A copy a job was claimed with is checked when the job starts (``stale``):
if this process changed that config since (a circuit moved, it was disabled, any forgetting write), the
job reads it again, so a job never runs on a state older than a change its own process made.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from typing import Any

from flask import Flask

from app.engine.circuit import is_closed
from app.models import Form, PluginConfig, parse_object_id
from app.services import services


def enabled_configs(form_id: str) -> list[dict[str, Any]]:
    """The form's enabled config documents, from the store."""
    return list(PluginConfig._get_collection().find({"form_id": form_id, "enabled": True}))


class Subscriptions:
    """Per-process, short-lived copies of forms and of their enabled configs (treat them as read-only)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._forms: dict[str, tuple[float, Any]] = {}
        self._configs: dict[str, tuple[float, Any]] = {}
        self._by_id: dict[str, tuple[float, Any]] = {}  # healthy configs, by id
        self._generation = 0  # bumped by forget: a read that overlapped a forget is not kept
        self._forgot_at = float("-inf")  # time.monotonic() of the last forget
        self._changed_at: dict[str, float] = {}  # config id -> time.monotonic() of this process's last change
        self._lock = threading.Lock()

    def form(self, form_id: str) -> dict[str, Any] | None:
        """The form's document, or None when there is no such form."""
        oid = parse_object_id(form_id)
        if oid is None:
            return None
        # One entry per form however its id is spelt ("AB12..." and "ab12..."); unknown ids are not kept
        # (_read keeps no None): anyone can post to any id.
        return self._read(self._forms, str(oid), lambda: Form._get_collection().find_one({"_id": oid}))[0]

    def configs(self, form_id: str) -> tuple[list[dict[str, Any]], float]:
        """The form's enabled config documents, and the ``time.monotonic()`` at which they were read."""
        return self._read(self._configs, form_id, lambda: enabled_configs(form_id))

    def configs_by_id(
        self, ids: Collection[str], read: Callable[[list[str]], list[dict[str, Any]]]
    ) -> dict[str, tuple[float, dict[str, Any]]]:
        """The config documents of ``ids`` with the ``time.monotonic()`` of their read: kept copies of healthy
        ones while fresh enough, the rest from ``read(missing ids)`` in one call (absent: deleted)."""
        now = time.monotonic()
        found: dict[str, tuple[float, dict[str, Any]]] = {}
        for config_id in ids:
            cached = self._by_id.get(config_id)
            if cached is not None and now - cached[0] < self.seconds:
                found[config_id] = cached
        missing = [config_id for config_id in ids if config_id not in found]
        if not missing:
            return found
        generation = self._generation
        docs = read(missing)
        with self._lock:
            keep = self.seconds > 0 and generation == self._generation
            for doc in docs:
                found[str(doc["_id"])] = (now, doc)
                # (not a copy whose read overlapped a change of this process: it may predate it)
                if keep and healthy(doc) and self._changed_at.get(str(doc["_id"]), float("-inf")) < now:
                    _make_room(self._by_id, now - self.seconds)
                    self._by_id[str(doc["_id"])] = (now, doc)
        return found

    def _read(
        self, cache: dict[str, tuple[float, Any]], key: str, read: Callable[[], Any]
    ) -> tuple[Any, float]:
        """``read()``'s value for ``key`` and when it was read: the kept copy while it is fresh enough."""
        now = time.monotonic()
        cached = cache.get(key)
        if cached is not None and now - cached[0] < self.seconds:
            return cached[1], cached[0]
        generation = self._generation
        value = read()
        if self.seconds > 0 and value is not None:
            with self._lock:
                if generation == self._generation:
                    _make_room(cache, now - self.seconds)
                    cache[key] = (now, value)
        return value, now

    def changed(self, config_id: object) -> None:
        """This process has just written a change to one config (its circuit): drop its copy, and make
        copies read before now ``stale``. Call it after the write has landed."""
        key = str(config_id)
        with self._lock:
            self._by_id.pop(key, None)
            if len(self._changed_at) >= MAX_FORMS:
                self._changed_at.clear()  # (forgetting all of them instead: every older copy is stale)
                self._forgot_at = time.monotonic()
            self._changed_at[key] = time.monotonic()

    def stale(self, config_id: object, read_at: float) -> bool:
        """A copy of the config read at ``read_at`` (``time.monotonic()``) is older than a change this
        process made to it since (``changed`` or ``forget``)."""
        return read_at <= max(self._forgot_at, self._changed_at.get(str(config_id), float("-inf")))

    def forget(self) -> None:
        """Drop everything: forms or integrations were changed by this process."""
        with self._lock:
            self._generation += 1
            self._forgot_at = time.monotonic()
            self._forms.clear()
            self._configs.clear()
            self._by_id.clear()


MAX_FORMS = 10_000


def healthy(config: dict[str, Any]) -> bool:
    """Enabled, with a closed circuit and no failures counted: a copy may start jobs."""
    return (
        bool(config.get("enabled", True))
        and is_closed(config)
        and not (config.get("circuit") or {}).get("failures")
    )


def _make_room(cache: dict[str, tuple[float, Any]], expired_before: float) -> None:
    """Keep at most MAX_FORMS entries: once full, drop the copies read before ``expired_before`` (and if
    none were, start over; the next reads refill it)."""
    if len(cache) < MAX_FORMS:
        return
    for key in [k for k, (read_at, _) in cache.items() if read_at < expired_before]:
        del cache[key]
    if len(cache) >= MAX_FORMS:
        cache.clear()


def forget(app: Flask | None = None) -> None:
    """Forms or integrations changed: the next submission reads them from the store."""
    services(app).subscriptions.forget()


def init_app(app: Flask) -> None:
    """Create the cache (the web layer empties it after writes: app/request_hooks.py)."""
    services(app).subscriptions = Subscriptions(app.config["FORM_CACHE_SECONDS"])
