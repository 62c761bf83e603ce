"""Template budgets: a template that tries to eat the CPU or the memory is stopped in line, quickly, with a
readable reason, leaves no thread behind, and is refused when its integration is saved."""

from __future__ import annotations

import threading
import time

import pytest

from app import template_budget
from app.contract import PluginError
from app.field_selection import select_fields
from app.template_budget import TemplateBudget
from app.templating import render, template_context
from tests.plugins.conftest import payload
from tests.test_metrics import _samples as samples

DOS = {
    "ljust": "{{ 'x'.ljust(50000000) }}",
    "rjust": "{{ 'x'.rjust(50000000) }}",
    "center filter": "{{ 'x'|center(50000000) }}",
    "zfill": "{{ '1'.zfill(50000000) }}",
    "indent filter": "{{ 'a\nb'|indent(50000000) }}",
    "format width": "{{ '{:>50000000}'.format(1) }}",
    "format width as argument": "{{ '{:>{}}'.format(1, 50000000) }}",
    "format_map width": "{{ '{x:>{w}}'.format_map({'x': 1, 'w': 50000000}) }}",
    "percent width": "{{ '%50000000d' % 1 }}",
    "format filter width": "{{ '%50000000d'|format(1) }}",
    "string multiplication": "{{ 'x' * 100000000 }}",
    "namespace doubled with ~": (
        "{% set ns = namespace(s='x') %}{% for i in range(26) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
    ),
    "namespace doubled with +": (
        "{% set ns = namespace(s='x') %}{% for i in range(26) %}{% set ns.s = ns.s + ns.s %}{% endfor %}"
    ),
    "macro doubling": "{% macro f(s, n) %}{{ f(s ~ s, n - 1) if n else s }}{% endmacro %}{{ f('x', 30) }}",
    "nested range loops": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "nested loops within range": "{% for i in range(9000) %}{% for j in range(9000) %}{% endfor %}{% endfor %}",
    "loops over long strings": "{% for i in 'x' * 60000 %}{% for j in 'x' * 60000 %}{% endfor %}{% endfor %}",
    "power tower": "{{ ((10**1000)**1000)**10 }}",
    "huge power": "{{ 2 ** 99999999 }}",
    "squaring in a loop": (
        "{% set ns = namespace(n=10) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}{% endfor %}"
    ),
    "join of a huge sequence": "{{ range(60000)|join('x' * 60000) }}",
    "join method": "{{ ('x' * 60000).join(['a', 'b', 'c']) }}",
    "replace widening": "{{ ('x' * 60000).replace('', 'yyyy') }}",
    "replace filter widening": "{{ ('x' * 60000)|replace('x', 'yyyy') }}",
    "set block in a loop": "{% set s %}{% for i in range(9000) %}" + "x" * 1000 + "{% endfor %}{% endset %}",
    "tuple multiplied then joined": "{{ (('x' * 1000,) * 60000)|join }}",
    "long output": "{% for i in range(5000) %}" + "x" * 100 + "{% endfor %}",
}


def rendered(source: str, what: str = "subject") -> str:
    snapshot = payload()
    return render(source, template_context(snapshot, select_fields(snapshot)), what=what)


@pytest.mark.parametrize("source", DOS.values(), ids=DOS.keys())
def test_each_dos_template_fails_quickly_with_a_readable_permanent_error(source):
    before = set(threading.enumerate())
    started = time.monotonic()
    with pytest.raises(PluginError) as err:
        rendered(source)
    assert time.monotonic() - started < 1.0
    assert err.value.permanent
    assert err.value.message.startswith("Subject template: ")
    # No thread left behind (threads of earlier tests that end meanwhile do not count).
    assert set(threading.enumerate()) <= before


def test_the_output_limit_is_named_in_kib():
    with pytest.raises(PluginError) as err:
        rendered(DOS["long output"])
    assert err.value.message == "Subject template: output larger than 64 KiB."


def test_cpu_time_is_a_budget_of_its_own():
    template_budget.configure(TemplateBudget(max_seconds=0.05, max_iterations=10**9))
    try:
        started = time.monotonic()
        with pytest.raises(PluginError) as err:
            rendered("{% for i in range(60000) %}{% for j in range(60000) %}{% endfor %}{% endfor %}", "body")
        # Unstopped, these 3.6 billion iterations would take hours; the margin above 0.05 s is for a loaded CPU.
        assert time.monotonic() - started < 10.0
        assert err.value.message == "Body template: rendering took longer than 0.05 s."
    finally:
        template_budget.configure(TemplateBudget())


def test_time_the_render_waits_for_a_core_is_not_spent_from_its_budget():
    """On a loaded host a render's thread waits for the GIL and the cores; only its own CPU time counts
    (a chain of steps failed "rendering took longer than 0.5 s" on a busy host with a one-line template)."""
    spending = template_budget.Spending(TemplateBudget(max_seconds=0.05))
    time.sleep(0.1)  # (waiting, as a descheduled thread does: the behaviour under test, not synchronisation)
    spending.check_time()  # not over its budget
    deadline = time.thread_time() + 0.06
    while time.thread_time() < deadline:  # spending CPU is
        pass
    with pytest.raises(template_budget.BudgetExceeded):
        spending.check_time()


def test_the_limits_follow_the_settings(make_app):
    make_app(TEMPLATE_MAX_OUTPUT_KB=1, TEMPLATE_MAX_ITERATIONS=50)
    try:
        with pytest.raises(PluginError, match="output larger than 1 KiB"):
            rendered("{{ 'x' * 1000 }}{{ 'z' * 100 }}")
        with pytest.raises(PluginError, match="more than 50 loop iterations"):
            rendered("{% for i in range(51) %}{% endfor %}")
    finally:
        template_budget.configure(TemplateBudget())


def test_ordinary_templates_render_as_before():
    source = (
        "{{ event_title }}: {{ form.name }} {% for f in fields %}{{ f.label }}={{ f.value|upper }};{% endfor %}"
        "{{ '{:>6}'.format(name) }}|{{ '%03d' % 7 }}|{{ name ~ '!' }}|{{ [1, 2]|join(', ') }}|{{ 2 ** 10 }}"
    )
    assert rendered(source) == (
        "New submission: Contact Your name=ADA;E-mail=ADA@EXAMPLE.COM;Message=HI;   Ada|007|Ada!|1, 2|1024"
    )


def test_refused_renders_are_counted_in_readyz_and_metrics(api):
    refused = ("formhooks_template_renders_refused_total", (("limit", "output"),))
    before = samples(api.client).get(refused, 0)
    with pytest.raises(PluginError):
        rendered(DOS["long output"])
    assert samples(api.client)[refused] == before + 1
    assert api.client.get("/readyz").json["isolation"]["renders_refused"]["output"] >= 1


@pytest.mark.parametrize("source", DOS.values(), ids=DOS.keys())
def test_saving_an_integration_with_a_dos_template_is_refused_with_422(api, source):
    form = api.create_form()
    resp = api.post(
        f"/api/forms/{form['id']}/plugins",
        {"plugin_id": "slack", "config": {"webhook_url": "https://hooks.example.com/x", "text": source}},
    )
    assert resp.status_code == 422, resp.json
    assert "text" in resp.json["error"]["details"]["config"]
    assert api.get(f"/api/forms/{form['id']}/plugins").json["items"] == []
