"""The live page in a real headless Chromium whose microphone plays a dev recording: the
expected finals appear on the page, the chart has one point per final, a screenshot is saved."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from gateway.options import Limits
from pipeline.text_metrics import word_error_rate
from tests.data_paths import DATA_DIR, REPO_ROOT
from tests.gateway_harness import GatewayRig, reference

pytestmark = pytest.mark.timeout(900)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SCREENSHOT = REPO_ROOT / ".cache" / "test-artifacts" / "gateway_page.png"


def fake_mic_wav(path: Path) -> Path:
    """jfk.flac as the 16-bit WAV Chromium's fake capture device plays, 3 s of silence after."""
    import soundfile

    samples, rate_hz = soundfile.read(DATA_DIR / "jfk.flac", dtype="float32", always_2d=True)
    mono = samples.mean(axis=1)
    padded = np.concatenate([mono, np.zeros(3 * rate_hz, dtype=np.float32)])
    soundfile.write(path, padded, rate_hz, subtype="PCM_16")
    return path


def _chromium(tmp_path, *extra_flags: str):
    """Headless Chromium whose fake microphone plays the dev recording once."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        *extra_flags,
        "--window-size=1280,900",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={fake_mic_wav(tmp_path / 'mic.wav')}%noloop",
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


@pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="no chromium/chromedriver: install them with 'make system-deps' (Debian packages)",
)
def test_page_shows_finals_and_charts_them(tmp_path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    rig = GatewayRig(replace(Limits(), silence_timeout_s=60.0))
    driver = _chromium(tmp_path, "--disable-gpu")
    try:
        driver.get(rig.gateway.http + "/?rate=device")  # the device's rate: the worklet resamples
        WebDriverWait(driver, 20).until(lambda d: "worker" in d.find_element(By.ID, "health").text)
        driver.find_element(By.ID, "mic").click()
        finals = driver.find_elements  # shorthand below
        WebDriverWait(driver, 240, poll_frequency=0.5).until(
            lambda d: "country" in " ".join(e.text for e in finals(By.CSS_SELECTOR, ".finals li"))
        )
        time.sleep(2.0)
        driver.find_element(By.ID, "mic").click()  # stop: the lane drains and closes
        WebDriverWait(driver, 180, poll_frequency=0.5).until(
            lambda d: d.find_element(By.ID, "mic").get_attribute("aria-pressed") == "false"
        )
        items = driver.find_elements(By.CSS_SELECTOR, '.lane[data-lane="A"] .finals li')
        texts = [
            driver.execute_script("return arguments[0].firstChild.textContent", e) for e in items
        ]
        points = driver.find_elements(By.CSS_SELECTOR, "#chart circle.pt.lat")
        engine_points = driver.find_elements(By.CSS_SELECTOR, "#chart circle.pt.eng")
        wait_points = driver.find_elements(By.CSS_SELECTOR, "#chart circle.pt.que")
        stats = {
            e.get_attribute("data-series"): (
                float(e.get_attribute("data-p50")),
                float(e.get_attribute("data-p95")),
            )
            for e in driver.find_elements(By.CSS_SELECTOR, "#pct .stat")
        }
        chart_points = driver.execute_script("return window.streamscribe.points")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOT))
        log = driver.find_element(By.ID, "log").text
        summary = driver.find_element(By.ID, "pct").text
        context_rate = driver.execute_script("return window.streamscribe.lastRate")
        exports = {
            fmt: driver.execute_script(
                "return Exports.render(window.streamscribe.finals, arguments[0])", fmt
            )
            for fmt in ("txt", "srt", "vtt", "json")
        }
    finally:
        driver.quit()
        rig.close()
    assert texts, log
    assert len(points) == len(texts), (len(points), texts)
    assert "p50" in summary and "p95" in summary
    # the three series, each with a value per final from the real daemon (not null)
    assert len(engine_points) == len(wait_points) == len(texts), summary
    assert all(p["engine_ms"] > 0 and p["queue_wait_ms"] >= 0 for p in chart_points)
    assert set(stats) == {"latency_ms", "engine_ms", "queue_wait_ms"}, summary
    assert all(p50 <= p95 for p50, p95 in stats.values()) and stats["engine_ms"][0] > 0
    assert context_rate and context_rate != 16000, context_rate  # the resampling path ran
    hypothesis = " ".join(texts)
    assert word_error_rate(reference("jfk.flac"), hypothesis) < 0.35, hypothesis
    assert SCREENSHOT.stat().st_size > 10_000
    assert exports["txt"].split() == hypothesis.split()
    assert exports["srt"].startswith("1\n00:00:") and " --> " in exports["srt"]
    assert exports["vtt"].startswith("WEBVTT\n\n00:00:")
    assert [f["text"] for f in json.loads(exports["json"])] == texts


@pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="no chromium/chromedriver: install them with 'make system-deps' (Debian packages)",
)
def test_side_by_side_on_streams_of_their_own(tmp_path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    rig = GatewayRig(
        replace(Limits(), silence_timeout_s=60.0),
        "--set",
        "streams.admission_max_busy=100",
        open_streams=True,
    )
    driver = _chromium(tmp_path)
    lane = '.lane[data-lane="{}"] .finals li'
    try:
        driver.get(rig.gateway.http + "/")
        WebDriverWait(driver, 20).until(lambda d: "worker" in d.find_element(By.ID, "health").text)
        driver.find_element(By.ID, "sideBySide").click()
        driver.find_element(By.ID, "mic").click()
        for name in ("A", "B"):
            WebDriverWait(driver, 240, poll_frequency=0.5).until(
                lambda d, n=name: (
                    "country"
                    in " ".join(e.text for e in d.find_elements(By.CSS_SELECTOR, lane.format(n)))
                )
            )
        time.sleep(2.0)
        driver.find_element(By.ID, "mic").click()
        WebDriverWait(driver, 180, poll_frequency=0.5).until(
            lambda d: d.find_element(By.ID, "mic").get_attribute("aria-pressed") == "false"
        )
        infos = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".lane-info")]
        points = {
            cls: len(driver.find_elements(By.CSS_SELECTOR, f"#chart circle.pt.{cls}"))
            for cls in ("lat", "latB")
        }
        counts = {n: len(driver.find_elements(By.CSS_SELECTOR, lane.format(n))) for n in "AB"}
        driver.save_screenshot(str(SCREENSHOT.with_name("gateway_page_side_by_side.png")))
    finally:
        driver.quit()
        rig.close()
    assert all(info.startswith("closed 1000: done") for info in infos), infos
    assert points == {"lat": counts["A"], "latB": counts["B"]}, (points, counts)
