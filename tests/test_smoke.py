def test_health_is_public_and_ok(api):
    assert api.client.get("/healthz").json == {"status": "ok"}


def test_submit_delivers_webhook(live_api, sink):
    form = live_api.create_form()
    live_api.add_plugin(form["id"], "webhook", {"url": sink.url + "/hook"})
    resp = live_api.submit(form["id"], {"email": "a@example.com"})
    [req] = sink.wait_for(1)
    assert req.json()["data"] == {"email": "a@example.com"}
    assert resp["jobs"]
