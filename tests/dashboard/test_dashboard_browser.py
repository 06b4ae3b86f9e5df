"""The dashboard page in a real headless Chromium: it loads, shows a freshly
spawned actor and a cluster member, and updates without a reload.

Set ATOMR_DASHBOARD_SCREENSHOT=<file.png> to keep a screenshot of the page
(docs/images/dashboard.png is made this way)."""

from __future__ import annotations

import os
import shutil
from typing import Any, Iterator

import pytest

from atomr import Actor, ActorSystem, Context, props
from atomr import dashboard
from atomr.cluster.events import MemberInfo, MemberUp, UnreachableMember
from tests.conftest import wait_until_blocking

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def _unavailable(why: str) -> None:
    # Skipped on a machine without the browser; under CI (`make deps`
    # installs it) a missing browser fails instead.
    if os.environ.get("CI"):
        pytest.fail(f"the dashboard's browser test cannot run under CI: {why}")
    pytest.skip(why)


try:
    from selenium import webdriver
except ImportError:  # pragma: no cover - without selenium
    webdriver = None  # type: ignore[assignment]


class Worker(Actor):
    def handle(self, ctx: Context, msg: Any) -> Any:
        if msg == "grow":
            ctx.spawn(props(Worker), "child")
        return msg


@pytest.fixture
def browser(tmp_path: Any) -> Iterator[Any]:
    if webdriver is None:
        _unavailable("selenium is not installed (requirements-dev.txt)")
    if CHROMIUM is None or DRIVER is None:
        _unavailable("chromium and chromium-driver are not installed "
                     "(scripts/install-system-deps.sh)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def actor_paths(driver: Any) -> set[str]:
    # Read in one script: the page re-renders the tree on every push.
    return set(driver.execute_script(
        "return Array.from(document.querySelectorAll('.actor[data-path]'), e => e.dataset.path);"))


def text_of(driver: Any, selector: str) -> str:
    return str(driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
        selector))


def test_page_shows_new_actors_and_members_without_reload(browser: Any) -> None:
    system = ActorSystem.create_blocking("incident")
    try:
        system.actor_of(props(Worker), "orders")
        with dashboard.serve("127.0.0.1:0", node="node-a", system=system,
                             interval=0.2) as handle:
            browser.get(handle.url)
            wait_until_blocking(lambda: "akka://incident/user/orders" in actor_paths(browser),
                                timeout=30.0, message="the page lists the running actor")
            assert text_of(browser, "#node") == "node-a"
            # System actors are in the tree too, marked (the dashboard's own).
            badge = '.actor.system[data-path="akka://incident/system/dashboard"] .badge'
            wait_until_blocking(lambda: text_of(browser, badge) == "system", timeout=30.0,
                                message="the page lists the system actors, marked")
            assert not browser.execute_script(
                "return document.querySelector("
                "'.actor[data-path=\"akka://incident/user/orders\"] .badge');")
            # A marker the page would lose on a reload.
            browser.execute_script("window.__noReload = 'still here';")

            fresh = system.actor_of(props(Worker), "fresh-actor")
            assert fresh.ask_blocking("grow", 5.0) == "grow"
            wait_until_blocking(
                lambda: {"akka://incident/user/fresh-actor",
                         "akka://incident/user/fresh-actor/child"} <= actor_paths(browser),
                timeout=30.0, message="the freshly spawned actors appear")

            member = MemberInfo("akka.tcp://incident@127.0.0.2:2552", "up", 1, ["backend"])
            system.event_stream.publish(MemberUp(member))
            system.event_stream.publish(UnreachableMember(member))
            row = '[data-member="akka.tcp://incident@127.0.0.2:2552"] .unreachable'
            wait_until_blocking(lambda: text_of(browser, row) == "UNREACHABLE",
                                timeout=30.0, message="the member shows as unreachable")

            ghost = system.actor_of(props(Worker), "ghost")
            ghost.stop()
            wait_until_blocking(ghost.is_terminated)
            ghost.tell("order-17 lost")
            wait_until_blocking(lambda: "order-17 lost" in text_of(browser, "#dead"),
                                timeout=30.0, message="the dead letter is listed")

            # The shards panel follows a shard region's entities.
            from atomr.cluster_sharding import ShardRegion

            carts = ShardRegion.start(system=system, type_name="cart",
                                      entity_props=props(Worker),
                                      message_extractor=lambda m: (m, "7", m))
            carts.tell("c-1")
            carts.tell("c-2")
            cell = f'[data-region="{carts.region_id}"][data-shard="7"] td:last-child'
            wait_until_blocking(lambda: text_of(browser, cell) == "2",
                                timeout=30.0, message="the shards panel shows the entities")

            assert browser.execute_script("return window.__noReload;") == "still here"
            assert int(browser.execute_script("return document.body.dataset.updates;")) > 1
            assert text_of(browser, "#live") == "live"

            shot = os.environ.get("ATOMR_DASHBOARD_SCREENSHOT")
            if shot:
                for i in range(40):
                    ref = system.actor_of(props(Worker), f"busy-{i}")
                    ref.tell("work")
                wait_until_blocking(lambda: len(actor_paths(browser)) > 40, timeout=30.0)
                browser.save_screenshot(shot)
    finally:
        system.terminate_blocking(10.0)
