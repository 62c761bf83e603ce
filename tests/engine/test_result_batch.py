"""A batch of attempt results on the embedded store (engine.writer, engine.jobs.apply_all_with): its log rows,
job changes and rollups go in one store command, and the rollups still count each settled job once — not
a change whose claim was lost, not a batch sent again after its first send was written."""

from __future__ import annotations

from collections import Counter

import pytest

from app.engine import jobs
from app.engine.writer import ResultWriter
from app.models import PluginExecutionLog, PluginJob, utcnow
from app.services import services
from tests.engine.test_rollups import _claimed, _totals
from tests.support.commands import commands_sent


def _batch(claimed: list, outcome: str = "completed") -> list:
    items = []
    for job in claimed:
        log = {
            "job_id": str(job["_id"]),
            "config_id": job["config_id"],
            "status": "success" if outcome == "completed" else "error",
            "executed_at": utcnow(),
            "attempt": job["attempts"],
        }
        change = jobs.finish(job, jobs.JobStatus(outcome), None if outcome == "completed" else "HTTP 400")
        items.append((log, change, None))
    return items


def _logs(claimed: list) -> int:
    return PluginExecutionLog._get_collection().count_documents(
        {"job_id": {"$in": [str(j["_id"]) for j in claimed]}}
    )


@pytest.mark.parametrize(("count", "outcome"), [(1, "completed"), (4, "completed"), (3, "failed")])
def test_a_batch_of_results_is_one_store_command(app, api, count, outcome):
    config_id, claimed = _claimed(app, api, count)
    writer = ResultWriter(services(app).inserts.submissions.group.atomic, inline=True)
    with app.app_context():
        assert writer._one_command()  # (the store is asked once, before)
        followed: list[int] = []  # what follows each result (a workflow run moving on): once it is written
        batch = [
            (log, change, lambda n=n: followed.append(n))
            for n, (log, change, _) in enumerate(_batch(claimed, outcome))
        ]
        with commands_sent() as sent:
            writer.write(batch)
        writes = Counter(name for name, _ in sent if name in ("insert", "update", "bulkWrite"))
        assert writes == {"bulkWrite": 1}
        assert followed == list(range(count))
        assert _logs(claimed) == count
        assert {j["status"] for j in PluginJob._get_collection().find({"config_id": config_id})} == {outcome}
        timed = count if outcome == "completed" else 0
        assert _totals(config_id) == Counter({outcome: count, "timed": timed}) - Counter()


@pytest.mark.parametrize(("count", "lost"), [(1, 1), (3, 1), (3, 2), (4, 4)])
def test_a_result_whose_claim_was_lost_is_taken_back_from_the_rollups(app, api, count, lost):
    config_id, claimed = _claimed(app, api, count)
    with app.app_context():
        for job in claimed[:lost]:
            PluginJob._get_collection().update_one({"_id": job["_id"]}, {"$set": {"claim_token": "reaped"}})
        ResultWriter(services(app).inserts.submissions.group.atomic, inline=True).write(_batch(claimed))
        assert _logs(claimed) == count  # (the attempts ran: their rows stay)
        done = count - lost
        assert _totals(config_id) == Counter(completed=done, timed=done) - Counter()


@pytest.mark.parametrize("count", [1, 3])
def test_a_batch_sent_again_after_its_first_send_was_written_counts_once(app, api, count):
    config_id, claimed = _claimed(app, api, count)
    batch = _batch(claimed)
    writer = ResultWriter(services(app).inserts.submissions.group.atomic, inline=True)
    with app.app_context():
        writer.write(batch)
        writer.write(
            batch
        )  # (the store wrote the first send but its answer was lost: the writer tries again)
        assert _logs(claimed) == count
        assert _totals(config_id) == Counter(completed=count, timed=count)
