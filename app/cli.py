"""Admin commands: ``flask --app wsgi create-user | create-token | rotate-keys | reindex-submissions |
rebuild-rollups | plugin new``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pymongo
from cryptography.fernet import InvalidToken
from flask import Flask, current_app
from flask.cli import with_appcontext

from app import auth, scaffold
from app.engine import indexer, rollup_rebuild
from app.errors import APIError
from app.models import PluginConfig, Role, Workflow, search_terms
from app.secrets_box import PREFIX, SecretBox, configured_keys, default_key

REBUILD_SECONDS = 6 * 3600
# (collection's model, field) holding sealed secrets.
SECRET_STORES = (
    (PluginConfig, "config"),
    (Workflow, "steps"),
    (Workflow, "inbound_secret"),
    (Workflow, "inbound_previous_secret"),
)


def _fail(err: APIError) -> None:
    details = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in (err.details or {}).items())
    raise click.ClickException(f"{err.message}{' (' + details + ')' if details else ''}")


@click.command("create-user")
@with_appcontext
@click.argument("email")
@click.option("--password", help="Asked for when not given.")
@click.option("--name", default="", help="Display name.")
@click.option("--workspace", help='A workspace id, or "default" (the first owner\'s), to add the user to.')
@click.option(
    "--role", type=click.Choice([r.value for r in Role]), default=Role.VIEWER.value, show_default=True
)
def create_user_command(
    email: str, password: str | None, name: str, workspace: str | None, role: str
) -> None:
    """Create a user who can log in with EMAIL and a password."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if workspace == "default":
        workspace = auth.default_workspace_id(current_app)
    if workspace and not _workspace_exists(workspace):
        raise click.ClickException(f"No workspace {workspace}.")
    try:
        user = auth.create_user(email, password, name)
    except APIError as err:
        _fail(err)
    if workspace:
        auth.set_member(workspace, user, role)
    where = f" ({role} of {workspace})" if workspace else " (in no workspace yet)"
    click.echo(f"Created {user.email}{where}.")


def _workspace_exists(workspace_id: str) -> bool:
    from app.models import Workspace, find_by_id  # noqa: PLC0415

    return find_by_id(Workspace, workspace_id) is not None


@click.command("create-token")
@with_appcontext
@click.argument("email")
@click.option("--name", default="cli", show_default=True, help="What the token is for.")
def create_token_command(email: str, name: str) -> None:
    """Create a personal API token for EMAIL and print it (it is shown only this once)."""
    user = auth.user_by_email(email)
    if user is None:
        raise click.ClickException(f"No user {email}.")
    _, clear = auth.create_token(user, name)
    click.echo(clear)


def rotate_value(box: SecretBox, value: Any) -> tuple[Any, int]:
    """``value`` with every sealed string re-encrypted under the first key, and how many there were."""
    if isinstance(value, str) and value.startswith(PREFIX):
        return box.rotate(value), 1
    if isinstance(value, dict):
        count = 0
        out = {}
        for key, item in value.items():
            out[key], n = rotate_value(box, item)
            count += n
        return out, count
    if isinstance(value, list):
        pairs = [rotate_value(box, item) for item in value]
        return [p[0] for p in pairs], sum(p[1] for p in pairs)
    return value, 0


def rotate_stored_secrets(box: SecretBox) -> int:
    """Re-encrypt every stored secret with the box's first key. Returns how many were rotated."""
    total = 0
    for model, field in SECRET_STORES:
        coll = model._get_collection()
        for doc in coll.find({}, {field: 1}):
            rotated, count = rotate_value(box, doc.get(field))
            if count:
                coll.update_one({"_id": doc["_id"]}, {"$set": {field: rotated}})
                total += count
    return total


@click.command("rotate-keys")
@with_appcontext
def rotate_keys_command() -> None:
    """Re-encrypt every stored secret with the first key of ENCRYPTION_KEYS.

    Put the new key first and keep the old ones after it; once this has run the old keys can go.
    Secrets sealed with the default key (derived from SECRET_KEY) are read too.
    """
    keys = configured_keys(current_app.config)
    if not keys:
        raise click.ClickException("Set ENCRYPTION_KEYS (new key first, old keys after) to rotate.")
    try:
        box = SecretBox([*keys, default_key(current_app.config["SECRET_KEY"])])
    except ValueError as err:
        raise click.ClickException(f"ENCRYPTION_KEYS holds a key that is not a Fernet key ({err}).") from None
    try:
        count = rotate_stored_secrets(box)
    except InvalidToken:
        raise click.ClickException(
            "A stored secret cannot be decrypted with any key; add the key it was sealed with to ENCRYPTION_KEYS."
        ) from None
    click.echo(f"Rotated {count} secret(s) to the first key.")


@click.group("plugin")
def plugin_group() -> None:
    """Plugin authoring."""


@plugin_group.command("new")
@click.argument("name")
@click.option(
    "--dir", "parent", type=click.Path(file_okay=False, path_type=Path), default=".", show_default=True
)
def new_plugin_command(name: str, parent: Path) -> None:
    """Write a pip package for plugin NAME (its id): pyproject with the entry point, plugin, tests."""
    try:
        root = scaffold.generate(name, parent)
    except (ValueError, FileExistsError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"Wrote {root}. Next: pip install -e {root} && python -m pytest {root}")


@click.command("reindex-submissions")
@with_appcontext
@click.option(
    "--all", "everything", is_flag=True, help="Rebuild every submission's entry, not only missing ones."
)
def reindex_submissions_command(everything: bool) -> None:
    """Add submissions stored before the search index (or all, with --all) to it, and those not yet counted
    to their forms' figures; safe to run again."""
    total = 0
    for done in search_terms.reindex_batches(everything):
        total += done
        click.echo(f"indexed {total} submissions")
    click.echo(f"done: {total} submissions indexed")
    flagged = indexer.mark_uncounted()
    counted = indexer.drain(timeout=float("inf"))
    click.echo(f"figures: {flagged} submissions not yet counted; {counted} indexed")


@click.command("rebuild-rollups")
@with_appcontext
@click.option(
    "--batch", default=5000, show_default=True, type=click.IntRange(min=1), help="Documents added up per write."
)
def rebuild_rollups_command(batch: int) -> None:
    """Count the dashboard's delivery and submission rollups again from the stored jobs and submissions."""
    shown: dict[str, int] = {}

    def progress(what: str, count: int) -> None:
        if count - shown.get(what, 0) >= 50_000:
            shown[what] = count
            click.echo(f"counted {count} {what}")

    with pymongo.timeout(REBUILD_SECONDS):  # a batch command: not the requests' deadline
        done = rollup_rebuild.rebuild(batch, progress)
    click.echo(f"done: {done.jobs} jobs, {done.submissions} submissions, {done.integrations} integrations")


def init_app(app: Flask) -> None:
    for command in (
        create_user_command,
        create_token_command,
        rotate_keys_command,
        reindex_submissions_command,
        rebuild_rollups_command,
        plugin_group,
    ):
        app.cli.add_command(command)
