"""scripts/browser.py: the Chromium it drives, and the URLs it reads back from the browser's own log."""

from __future__ import annotations

import json

import pytest

from scripts import browser


class FakeDriver:
    """Stands in for WebDriver.get_log: DevTools events as Chromium's performance log wraps them."""

    def __init__(self, urls: list[str]) -> None:
        self.entries = [{"message": json.dumps({"message": {"method": "Network.requestWillBeSent",
                                                            "params": {"request": {"url": u}}}})} for u in urls]
        self.entries.append({"message": json.dumps({"message": {"method": "Network.responseReceived", "params": {}}})})

    def get_log(self, kind: str) -> list[dict]:
        assert kind == "performance"
        return self.entries


def test_requested_urls_reads_only_request_events():
    assert browser.requested_urls(FakeDriver(["http://127.0.0.1:1/ui", "data:,"])) == ["http://127.0.0.1:1/ui", "data:,"]


def test_network_urls_leave_out_what_the_browser_serves_itself():
    urls = ["chrome://resources/x.js", "data:image/png;base64,AA", "blob:http://127.0.0.1:1/x",
            "http://127.0.0.1:1/ui", "https://cdn.example/x.js", "wss://a.example/"]
    assert browser.network_urls(FakeDriver(urls)) == ["http://127.0.0.1:1/ui", "https://cdn.example/x.js",
                                                      "wss://a.example/"]


def test_flags_keep_the_browser_to_itself():
    for flag in ("--headless", "--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--no-first-run"):
        assert flag in browser.FLAGS


@pytest.mark.slow
@pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))
def test_a_real_chromium_starts_on_a_blank_page():
    with browser.chromium(400, 300) as driver:
        assert driver.current_url == "about:blank"
        assert browser.network_urls(driver) == []
