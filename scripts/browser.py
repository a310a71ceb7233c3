"""A real headless Chromium (Debian's `chromium` + `chromium-driver`) driven by Selenium.

Used by the playground's browser tests and by `python -m scripts.playground_shots`.
The flags keep the browser from talking to anything but the page's server: no
background networking, component updates, sync or QUIC, and a fresh profile each time.
The performance log (Chrome DevTools' Network events) is on, so a test can list
every URL the page requested.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = ("/usr/bin/chromedriver",)
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
)


def _first(paths: tuple[str, ...], name: str) -> str | None:
    return next((p for p in paths if Path(p).exists()), shutil.which(name))


def missing() -> str | None:
    """Why no browser can run here, or None when Chromium, its driver and Selenium are present."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    if _first(CHROMIUM, "chromium") is None or _first(DRIVER, "chromedriver") is None:
        return "Debian's chromium and chromium-driver are not installed (scripts/install-dev.sh installs them as root)"
    return None


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A headless Chromium WebDriver with a throwaway profile; quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="ortserve-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = _first(CHROMIUM, "chromium") or CHROMIUM[0]
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    # An explicit driver path: Selenium Manager would otherwise try to download one.
    service = Service(executable_path=_first(DRIVER, "chromedriver") or DRIVER[0])
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.get("about:blank")  # leave the start page, whose chrome:// resources would fill the log
        requested_urls(driver)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def requested_urls(driver: Any) -> list[str]:
    """Every URL the browser sent a request for since the last call (DevTools Network events)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


NETWORK = ("http:", "https:", "ws:", "wss:", "ftp:")


def network_urls(driver: Any) -> list[str]:
    """The requested URLs that go over a network: chrome://, data:, blob: and about: are served
    by the browser itself."""
    return [u for u in requested_urls(driver) if u.startswith(NETWORK)]
