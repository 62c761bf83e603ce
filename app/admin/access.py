"""What the logged-in user may see and change, for the pages (the API enforces the same on writes).

Anything outside the user's workspaces is answered 404, like the API does.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, g

from app.auth import current_principal, visible_workspace_ids
from app.models import Form, PluginConfig, PluginJob, find_by_id, parse_object_id
from app.models.accounts import Role, Workspace


@dataclass(frozen=True)
class Place:
    """A workspace the user belongs to, with their role in it."""

    id: str
    name: str
    role: str

    @property
    def can_edit(self) -> bool:
        return self.role in (Role.EDITOR.value, Role.OWNER.value)

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER.value


def places() -> list[Place]:
    """The user's workspaces, by name (looked up once per request)."""
    if "fh_places" not in g:
        principal = current_principal()
        found: list[Place] = []
        if principal is not None:
            ids = [parse_object_id(w) for w in principal.memberships]
            for ws in Workspace.objects(id__in=ids).order_by("name"):
                found.append(Place(str(ws.id), ws.name, principal.memberships[str(ws.id)]))
        g.fh_places = found
    return g.fh_places


def role_in(workspace_id: str | None) -> str | None:
    principal = current_principal()
    return principal.role_in(workspace_id) if principal else None


def can_edit(workspace_id: str | None) -> bool:
    return role_in(workspace_id) in (Role.EDITOR.value, Role.OWNER.value)


def visible_forms():
    return Form.objects(workspace_id__in=visible_workspace_ids())


def visible_form_ids() -> list[str]:
    return [str(f.id) for f in visible_forms().only("id")]


def form_or_404(form_id: str) -> Form:
    form = find_by_id(Form, form_id)
    if form is None or role_in(form.workspace_id) is None:
        abort(404)
    return form


def config_or_404(config_id: str) -> tuple[PluginConfig, Form]:
    cfg = find_by_id(PluginConfig, config_id)
    if cfg is None:
        abort(404)
    return cfg, form_or_404(cfg.form_id)


def job_or_404(job_id: str) -> tuple[PluginJob, Form | None]:
    """A job the viewer may see, and its form. A workflow step's job belongs to its run's workspace; its
    form is None when its trigger was no form event (a schedule, an inbound call, by hand)."""
    job = find_by_id(PluginJob, job_id)
    if job is None:
        abort(404)
    if job.run_id:
        if role_in(job.workspace_id) is None:
            abort(404)
        form = find_by_id(Form, job.form_id) if job.form_id else None
        return job, form if form is not None and form.workspace_id == job.workspace_id else None
    return job, form_or_404(job.form_id)
