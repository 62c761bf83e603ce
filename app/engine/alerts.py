"""Failure alerts: notice broken integrations and tell the workspace's owners once per incident.

An incident is an integration whose circuit opened (one alert per failing streak), that was disabled
(automatically or by a 410), or whose attempts failed at ``ALERT_FAILURE_RATE`` or more over the past hour.
Any process's scheduler may look; a unique key per incident and a per-integration cool-down, both taken
atomically in the store, make one outage one alert. Muted integrations raise none.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from mongoengine import NotUniqueError
from pymongo.errors import DuplicateKeyError

from app.admin import rollup_reads
from app.engine.alert_delivery import deliver, last_failure
from app.engine.alert_resolution import resolve_recovered
from app.models import Alert, AlertCooldown, PluginConfig, as_datetime, utcnow
from app.plain_text import one_line
from app.public_address import public_url

log = logging.getLogger(__name__)


def check(settings: Mapping[str, Any], now: float | None = None) -> list[Alert]:
    """Raise the alerts of every incident not alerted yet, and resolve those whose integration recovered;
    returns the alerts raised now."""
    now = time.time() if now is None else now
    raised = []
    configs = PluginConfig._get_collection()
    for cfg in configs.find({"circuit.state": {"$in": ["open", "half_open"]}, "alerts_muted": {"$ne": True}}):
        circuit = cfg.get("circuit") or {}
        incident = circuit.get("failing_since") or circuit.get("opened_at")
        text = (
            f"{_name(cfg)} failed {circuit.get('failures', 0)} times in a row; its deliveries are paused "
            "and retried after a cool-down."
        )
        raised.append(
            _raise(settings, cfg, "circuit_open", f"incident:{incident}", "keeps failing", text, now)
        )
    recent = utcnow() - dt.timedelta(seconds=float(settings["ALERT_COOLDOWN"]))
    for cfg in configs.find({"enabled": False, "alerts_muted": {"$ne": True}}):
        disabled_at = as_datetime(cfg.get("disabled_at"))
        # switched off by a person (no reason; disabled_at then marks the gap to offer), or long ago
        if not cfg.get("disabled_reason") or disabled_at is None or disabled_at < recent:
            continue
        # (its reason may quote the destination's answer: the integration's page shows it)
        text = f"{_name(cfg)} was switched off after failing; its page says why."
        raised.append(
            _raise(
                settings,
                cfg,
                "disabled",
                f"disabled:{cfg.get('disabled_at')}",
                "was disabled",
                text,
                now,
                cooldown=False,
            )
        )
    raised.extend(_failure_rates(settings, now))
    resolve_recovered()  # (and the incidents that ended are marked so)
    return [alert for alert in raised if alert is not None]


def _failure_rates(settings: Mapping[str, Any], now: float) -> list[Alert | None]:
    """Integrations whose attempts in the past hour failed at the threshold rate or more, counted from the
    delivery rollups (engine.rollups: per integration per hour of the jobs' creation), so a check reads a
    document or two per integration whatever the number of attempts. "The past hour" is the rollups' slots
    of this hour and the one before: jobs created in the last 60 to 120 minutes. Attempts are the jobs
    delivered, failed for good and the attempts that will be retried; the failed ones the last two."""
    since = dt.datetime.fromtimestamp(now, dt.UTC) - dt.timedelta(hours=1)
    configs = {
        str(cfg["_id"]): cfg
        for cfg in PluginConfig._get_collection().find(
            {"alerts_muted": {"$ne": True}}, {"name": 1, "workspace_id": 1}
        )
    }
    slots, _ = rollup_reads.deliveries(configs, since, dt.datetime.fromtimestamp(now, dt.UTC))
    failed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for slot in slots:
        failed[slot.config_id] += slot.failed + slot.retried
        total[slot.config_id] += slot.completed + slot.failed + slot.retried
    minimum, threshold = int(settings["ALERT_MIN_ATTEMPTS"]), float(settings["ALERT_FAILURE_RATE"])
    raised = []
    for config_id, failures in failed.items():
        attempts = total[config_id]
        if not failures or attempts < minimum or failures / attempts < threshold:
            continue
        cfg = configs[config_id]
        text = f"{_name(cfg)}: {failures} of its {attempts} attempts in the past hour failed."
        hour = int(now // 3600)
        raised.append(_raise(settings, cfg, "failure_rate", f"rate:{hour}", "is failing often", text, now))
    return raised


def _name(cfg: dict[str, Any]) -> str:
    """The integration's name as alerts quote it (one line, even if stored before names had to be)."""
    return f"“{one_line(cfg['name'])}”"


def _take_cooldown(config_id: str, now: float, cooldown: float) -> bool:
    """True for the one caller that may alert about this integration now (atomic across processes)."""
    coll = AlertCooldown._get_collection()
    try:
        coll.insert_one({"_id": config_id, "until": now + cooldown})
        return True
    except DuplicateKeyError:
        taken = coll.update_one(
            {"_id": config_id, "until": {"$lt": now}}, {"$set": {"until": now + cooldown}}
        )
        return taken.modified_count == 1


def _raise(
    settings: Mapping[str, Any],
    cfg: dict[str, Any],
    kind: str,
    incident: str,
    what: str,
    text: str,
    now: float,
    cooldown: bool = True,
) -> Alert | None:
    config_id = str(cfg["_id"])
    key = f"{config_id}:{kind}:{incident}"
    if Alert.objects(dedup_key=key).only("id").first() is not None:
        return None
    if cooldown and not _take_cooldown(config_id, now, float(settings["ALERT_COOLDOWN"])):
        return None
    failure = last_failure(settings, config_id)
    link = f"{public_url(settings)}/admin/integrations/{config_id}"
    message = f"{text}\n\nLast failure: {failure or '(none recorded)'}\nFix it: {link}"
    try:
        alert = Alert(
            workspace_id=cfg.get("workspace_id"),
            config_id=config_id,
            kind=kind,
            title=f"Integration {one_line(cfg['name'])!r} {what}",
            message=message,
            link=link,
            dedup_key=key,
        ).save()
    except NotUniqueError:
        return None  # another process raised it a moment ago
    log.warning("alert: %s", alert.title)
    deliver(settings, alert, cfg)
    return alert
