"""The real thing: `rlhf-eval dashboard` serves the app on a free localhost port, headless
Chromium loads it, the Runs page draws its charts, and hostile text stays inert text.
Screenshots go to tests/artifacts/ (gitignored)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dashboard_helpers import HOSTILE

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="headless Chromium not installed (Debian packages chromium and chromium-driver; "
           "`make browser` installs them)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the dashboard exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@pytest.fixture(scope="module")
def served(small_store, tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "streamlit.log"
    cli = Path(sys.executable).with_name("rlhf-eval")
    cmd = [str(cli) if cli.exists() else sys.executable] + \
        ([] if cli.exists() else ["-m", "rlhf_eval.cli"]) + \
        ["dashboard", "--store", str(small_store), "--port", str(port), "--headless"]
    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the process group this fixture started
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=1400,1800",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait_for(driver, css: str, timeout: float = 90, count: int = 1):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, css)) >= count)
    return driver.find_elements(By.CSS_SELECTOR, css)


def test_runs_page_shows_its_charts(served, browser):
    browser.get(served)
    charts = _wait_for(browser, ".vega-embed canvas, .vega-embed svg", count=3)
    assert len(charts) >= 3  # trend, win-rate, frontier (+ over-optimization)
    _wait_for(browser, "h1")
    assert "Runs" in browser.find_element("css selector", "h1").text
    time.sleep(1.0)  # let the last chart finish drawing before the picture
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "runs_page.png"))
    sizes = [c.size for c in charts]
    assert all(s["width"] > 100 and s["height"] > 100 for s in sizes), sizes


def test_samples_page_keeps_script_inert(served, browser):
    browser.get(served + "/samples")
    blocks = _wait_for(browser, "[data-testid='stCode'] code, [data-testid='stCode'] pre",
                       count=3)
    text = "\n".join(b.text for b in blocks)
    assert "<script>window.__xss = 1;" in text and "**not bold**" in text
    assert browser.execute_script("return window.__xss === undefined")
    assert browser.title != "pwned"
    assert not browser.find_elements("css selector", "[data-testid='stMain'] b, img[src='x']")
    browser.save_screenshot(str(ARTIFACTS / "samples_page.png"))
    assert HOSTILE.splitlines()[0] in text
