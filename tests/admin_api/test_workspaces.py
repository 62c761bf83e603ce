"""Workspaces and members: owners manage members; editors change forms; viewers read."""

from __future__ import annotations

import threading

from app import auth
from app.auth.bootstrap import ensure_first_owner
from app.db import database
from app.models.accounts import Membership, User, Workspace
from tests.conftest import Api


def test_creating_a_workspace_makes_the_creator_its_owner(api, people):
    member = people.member("m@example.com", {})
    created = member.api.post("/api/workspaces", {"name": "Marketing"})
    assert created.status_code == 201 and created.json["role"] == "owner"
    assert [w["name"] for w in member.api.get("/api/workspaces").json["items"]] == ["Marketing"]
    form = member.api.create_form("Signup")  # goes to the only workspace they can write to
    assert form["workspace_id"] == created.json["id"]


def test_roles_change_what_a_member_may_do(api, people):
    ws = people.default_workspace()
    member = people.member("m@example.com", {ws: "viewer"})
    form = api.create_form("Contact")
    assert member.api.patch(f"/api/forms/{form['id']}", {"name": "Renamed"}).status_code == 403
    assert api.patch(f"/api/workspaces/{ws}/members/{member.id}", {"role": "editor"}).status_code == 200
    assert member.api.patch(f"/api/forms/{form['id']}", {"name": "Renamed"}).status_code == 200
    # an editor still cannot manage members
    resp = member.api.post(f"/api/workspaces/{ws}/members", {"email": "x@example.com", "role": "owner"})
    assert resp.status_code == 403
    assert api.delete(f"/api/workspaces/{ws}/members/{member.id}").status_code == 204
    assert member.api.get(f"/api/forms/{form['id']}").status_code == 404


def test_a_viewer_cannot_test_connections_anywhere(people):
    viewer = people.member("v@example.com", {people.default_workspace(): "viewer"})
    resp = viewer.api.post("/api/plugins/webhook/test", {"config": {"url": "http://127.0.0.1:9/"}})
    assert resp.status_code == 403


def test_the_last_owner_cannot_leave_or_be_demoted(api, people):
    ws = people.default_workspace()
    owner_id = api.get("/api/auth/me").json["user"]["id"]
    assert api.patch(f"/api/workspaces/{ws}/members/{owner_id}", {"role": "viewer"}).status_code == 409
    assert api.delete(f"/api/workspaces/{ws}/members/{owner_id}").status_code == 409
    second = people.member("second@example.com", {ws: "owner"})
    assert api.patch(f"/api/workspaces/{ws}/members/{second.id}", {"role": "viewer"}).status_code == 200
    assert api.patch(f"/api/workspaces/{ws}/members/{second.id}", {"role": "owner"}).status_code == 200
    assert api.delete(f"/api/workspaces/{ws}/members/{owner_id}").status_code == 204


def test_any_member_may_leave(people):
    ws = people.default_workspace()
    viewer = people.member("v@example.com", {ws: "viewer"})
    assert viewer.api.delete(f"/api/workspaces/{ws}/members/{viewer.id}").status_code == 204
    assert viewer.api.get("/api/workspaces").json["items"] == []


def test_a_workspace_with_forms_cannot_be_deleted(api, people):
    member = people.member("m@example.com", {})
    ws = member.api.post("/api/workspaces", {"name": "Temp"}).json["id"]
    form = member.api.create_form("F")
    assert member.api.delete(f"/api/workspaces/{ws}").status_code == 409
    assert member.api.delete(f"/api/forms/{form['id']}").status_code == 204
    assert member.api.delete(f"/api/workspaces/{ws}").status_code == 204
    assert Membership.objects(workspace_id=ws).count() == 0


def test_workspace_names_are_validated(api, people):
    ws = people.default_workspace()
    assert api.post("/api/workspaces", {"name": ""}).status_code == 422
    assert api.patch(f"/api/workspaces/{ws}", {"name": "Renamed"}).json["name"] == "Renamed"


def test_the_first_owner_is_created_once_even_by_concurrent_workers(app):
    results = []
    threads = [
        threading.Thread(
            target=lambda: results.append(ensure_first_owner("admin@example.com", "pw-12345678"))
        )
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    assert User.objects.count() == 1 and Workspace.objects.count() == 1
    assert Membership.objects.count() == 1


def test_a_user_created_before_the_first_start_is_adopted_as_first_owner(make_app):
    make_app()
    database().drop_collection("instance")  # as if the app had never started on this database
    for model in (User, Workspace, Membership):
        model.objects.delete()
    existing = auth.create_user("admin@example.com", "chosen password")
    app = make_app()
    assert str(auth.first_owner(app).id) == str(existing.id)
    assert auth.memberships_of(str(existing.id)) == {auth.default_workspace_id(app): "owner"}


def test_forms_from_before_workspaces_join_the_default_workspace_on_upgrade(make_app, api):
    from app.models import Form

    database()["instance"].update_one({"_id": "first_owner"}, {"$unset": {"adopted_unowned": ""}})
    legacy = Form._get_collection().insert_one({"name": "Old form", "fields": [], "revision": 1}).inserted_id
    upgraded = make_app()
    form = Api(upgraded.test_client()).get(f"/api/forms/{legacy}")
    assert form.status_code == 200 and form.json["workspace_id"] == auth.default_workspace_id(upgraded)


def test_two_owners_demoting_each_other_at_once_leave_an_owner(app, people):
    """Security finding 8: the last-owner check and the change are one step, whatever the timing."""
    for trial in range(6):
        ws = people.workspace(f"Race {trial}")
        ann = people.member(f"ann{trial}@example.com", {ws: "owner"})
        bob = people.member(f"bob{trial}@example.com", {ws: "owner"})
        start = threading.Barrier(2)
        codes: dict[str, int] = {}

        def demote(actor, target, name: str, ws=ws, start=start, codes=codes):
            client = Api(app.test_client(), actor.token)
            start.wait(timeout=5)
            codes[name] = client.patch(
                f"/api/workspaces/{ws}/members/{target.id}", {"role": "viewer"}
            ).status_code

        threads = [
            threading.Thread(target=demote, args=(ann, bob, "ann")),
            threading.Thread(target=demote, args=(bob, ann, "bob")),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=15)
        owners = Membership.objects(workspace_id=ws, role="owner").count()
        assert owners == 1, (trial, codes)
        assert sorted(codes.values()) in ([200, 403], [200, 409]), codes


def test_a_demoted_owner_cannot_go_on_managing_members(api, people):
    ws = people.workspace("Team")
    ann = people.member("ann@example.com", {ws: "owner"})
    bob = people.member("bob@example.com", {ws: "owner"})
    carl = people.member("carl@example.com", {ws: "editor"})
    assert ann.api.patch(f"/api/workspaces/{ws}/members/{bob.id}", {"role": "viewer"}).status_code == 200
    assert bob.api.patch(f"/api/workspaces/{ws}/members/{carl.id}", {"role": "owner"}).status_code == 403
    assert bob.api.delete(f"/api/workspaces/{ws}/members/{ann.id}").status_code == 403
