"""Templates and field selection for plugins: the same sandbox and helpers every built-in uses.

Re-exported from ``app.templating`` and ``app.field_selection`` so that a plugin imports only from
``app.contract``.
"""

from app.field_selection import SelectedField, display_value, select_fields, selection_field
from app.templating import EVENT_TITLES, Template, check_template, render, slack_escape, template_context

__all__ = [
    "EVENT_TITLES",
    "SelectedField",
    "Template",
    "check_template",
    "display_value",
    "render",
    "select_fields",
    "selection_field",
    "slack_escape",
    "template_context",
]
