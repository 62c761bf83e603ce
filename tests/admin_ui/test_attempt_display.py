"""What the admin pages show of an attempt and a config form: the plugin's own words, real characters, and
help texts that read as sentences."""

from __future__ import annotations

import html
import re

import pytest

from app.models import PluginExecutionLog, PluginJob

WHSEC = "whsec_c3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nz"


def _attempt(app, job_id: str, summary: str | None, status_code: int | None) -> None:
    with app.app_context():
        job = PluginJob.objects.get(id=job_id)
        job.update(status="completed", attempts=1)
        PluginExecutionLog(
            job_id=job_id,
            config_id=job.config_id,
            form_id=job.form_id,
            submission_id=job.submission_id,
            workspace_id=job.workspace_id,
            attempt=1,
            status="success",
            summary=summary,
            response={"status_code": status_code} if status_code else {},
        ).save()


@pytest.mark.parametrize(
    ("summary", "status_code", "shown"),
    [
        ("Posted to #forms", 200, "Posted to #forms"),
        ("SMS SM123 to +15550100: queued", 201, "SMS SM123 to +15550100: queued"),
        (None, 202, "HTTP 202"),
    ],
)
def test_the_attempt_lists_show_the_plugins_summary(app, api, owner, summary, status_code, shown):
    form = api.create_form("Orders", [{"name": "email", "type": "email"}])
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/hook"})
    submitted = api.submit(form["id"], {"email": "ada@example.com"})
    _attempt(app, submitted["jobs"][0], summary, status_code)
    for page in (
        owner.get("/admin/executions?view=attempts"),
        owner.get(f"/admin/submissions/{submitted['id']}"),
    ):
        cells = re.findall(r'<td data-label="Result">(.*?)</td>', page.text, re.S)
        assert [html.unescape(c).strip() for c in cells] == [shown], page.request.path


@pytest.mark.parametrize("name", ["Zoë", "Renée Ørsted", "李雷", "Zoë <b>bold</b> & co"])
def test_the_job_page_shows_real_characters_still_escaped(app, api, owner, name):
    form = api.create_form("Orders", [{"name": "name"}])
    api.add_plugin(form["id"], "webhook", {"url": "http://127.0.0.1:9/hook"})
    (job_id,) = api.submit(form["id"], {"name": name})["jobs"]
    page = owner.get(f"/admin/jobs/{job_id}").text
    assert f'"name": "{name}"' in html.unescape(page)  # the payload as typed
    assert "\\u" not in page  # not Zo\u00eb
    assert "<b>" not in page  # and still escaped for HTML


def test_a_secrets_help_text_and_the_forms_own_hint_are_separate_sentences(app, api, owner):
    form = api.create_form("Orders", [{"name": "email", "type": "email"}])
    config = {"url": "http://127.0.0.1:9/hook", "auth_token": "tok_0123456789", "secret": WHSEC}
    saved = api.add_plugin(form["id"], "webhook", config)
    page = html.unescape(owner.get(f"/admin/integrations/{saved['id']}").text)
    helps = [
        re.sub(r"\s+", " ", h) for h in re.findall(r'<p class="help" id="[^"]*-help">(.*?)</p>', page, re.S)
    ]
    token_help = next(h for h in helps if h.startswith("Sent as Authorization"))
    assert token_help == (
        "Sent as Authorization: Bearer <token> (stored encrypted). A value is saved; leave blank to keep it."
    )
    assert not [h for h in helps if re.search(r"[a-z)] A value is saved", h)]
