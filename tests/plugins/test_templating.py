"""The shared template engine (Jinja2 sandbox) and field selection, as form owners meet them."""

from __future__ import annotations

import pytest
from marshmallow import Schema, ValidationError

from app.contract import PluginError
from app.field_selection import select_fields, selection_field
from app.templating import render, template_context
from tests.plugins.conftest import payload


def rendered(source: str, data: dict | None = None, mode: str = "text", event: str = "form.submitted") -> str:
    snapshot = payload(data, event=event)
    return render(source, template_context(snapshot, select_fields(snapshot)), mode)


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ data.__class__ }}",
        "{{ ''|attr('__class__') }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ data.update({'x': 1}) }}",
    ],
)
def test_sandbox_escapes_are_refused(source):
    with pytest.raises(PluginError) as err:
        rendered(source)
    assert err.value.permanent
    assert "was refused" in err.value.message


def test_missing_fields_render_empty():
    assert rendered("[{{ data.nope }}|{{ nope }}|{{ data.nope.deeper }}|{{ data['x-y'] }}]") == "[|||]"


def test_variables_data_fields_by_name_form_submission_and_event():
    out = rendered(
        "{{ data.name }}/{{ name }}/{{ form.name }}/{{ form.id }}/{{ submission.id }}/"
        "{{ submission.created_at }}/{{ submission.revision }}/{{ event }}/{{ event_title }}",
        event="response.edited",
    )
    assert (
        out
        == "Ada/Ada/Contact/65f000000000000000000001/sub1/2026-05-01T10:00:00.000Z/1/response.edited/Submission edited"
    )


def test_the_selected_fields_are_a_variable_too():
    assert rendered("{% for f in fields %}{{ f.label }}={{ f.value }};{% endfor %}") == (
        "Your name=Ada;E-mail=ada@example.com;Message=Hi;"
    )


def test_lists_and_booleans_read_naturally():
    assert (
        rendered("{{ tags }} {{ ok }} {{ nothing }}", {"tags": ["a", "b"], "ok": True, "nothing": None})
        == "a, b yes "
    )


def test_html_mode_escapes_values_but_not_the_template():
    assert rendered("<b>{{ name }}</b>", {"name": "<script>&"}, mode="html") == "<b>&lt;script&gt;&amp;</b>"


def test_slack_mode_escapes_control_characters_of_values_only():
    assert (
        rendered("<!here> {{ name }}", {"name": "<!channel> & co"}, mode="slack")
        == "<!here> &lt;!channel&gt; &amp; co"
    )


def test_a_render_error_is_permanent_with_the_message():
    with pytest.raises(PluginError) as err:
        render("{{ 1 / 0 }}", {}, what="subject")
    assert err.value.permanent
    assert (
        err.value.message == "The subject template could not be rendered: ZeroDivisionError: division by zero"
    )


@pytest.mark.parametrize(
    ("plugin_id", "config", "field"),
    [
        (
            "email",
            {
                "host": "smtp.example.com",
                "from_address": "f@example.com",
                "to": ["a@example.com"],
                "subject": "{{ oops",
            },
            "subject",
        ),
        ("email", {"host": "smtp.example.com", "from_address": "f@example.com", "to": ["{% if %}"]}, "to"),
        (
            "email",
            {
                "host": "smtp.example.com",
                "from_address": "f@example.com",
                "to": ["a@example.com"],
                "html_body": "{% for %}",
            },
            "html_body",
        ),
        ("slack", {"webhook_url": "https://hooks.slack.com/services/x", "text": "{{ name }"}, "text"),
    ],
)
def test_a_template_syntax_error_is_a_422_on_the_field_and_nothing_is_saved(api, plugin_id, config, field):
    form = api.create_form()
    resp = api.post(f"/api/forms/{form['id']}/plugins", {"plugin_id": plugin_id, "config": config})
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "validation_error"
    assert "Template syntax error on line 1" in str(resp.json["error"]["details"]["config"][field])
    assert api.get(f"/api/forms/{form['id']}/plugins").json["items"] == []


# -- field selection -------------------------------------------------------------------------------------


def test_every_field_by_default_in_form_order_then_undeclared_values():
    fields = select_fields(payload({"extra": 1, "message": "Hi", "name": "Ada"}))
    assert [(f.name, f.label, f.value) for f in fields] == [
        ("name", "Your name", "Ada"),
        ("email", "E-mail", None),
        ("message", "Message", "Hi"),
        ("extra", "extra", 1),
    ]


def test_a_chosen_subset_in_its_order_with_labels():
    selection = [{"field": "message", "label": "What they said"}, {"field": "name"}]
    fields = select_fields(payload(), selection)
    assert [(f.label, f.value) for f in fields] == [("What they said", "Hi"), ("Your name", "Ada")]


def test_a_selection_naming_a_field_twice_is_invalid():
    schema = Schema.from_dict({"fields": selection_field()})()
    with pytest.raises(ValidationError) as err:
        schema.load({"fields": [{"field": "a"}, {"field": "a"}]})
    assert err.value.messages == {"fields": ["Listed more than once: a."]}
