"""axe-core (bundled by axe-playwright-python) on a page: no critical or serious violation allowed."""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe

_axe = Axe()
BLOCKING = ("critical", "serious")


def assert_no_serious_violations(page, where: str = "") -> None:
    results = _axe.run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in BLOCKING
    ]
    assert bad == [], f"axe on {where or page.url}: {bad}"
