"""The live page in a real headless Firefox (Debian's firefox-esr, driven over Marionette with
Mozilla's marionette-driver): the fake microphone opens, an AudioContext at 16 kHz (and one at
the device's rate) loads the AudioWorklet, the WebSocket gets ready and closes cleanly.

What it cannot show: audio frames. Headless Firefox with no audio backend (no sound server on
a CI machine) never starts an AudioContext, so the worklet is never run; Firefox also cannot
play a file as its microphone. The Chromium test checks frames and transcripts."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from dataclasses import replace

import pytest

from gateway.options import Limits
from tests.gateway_harness import GatewayRig, free_port

pytestmark = pytest.mark.timeout(600)

FIREFOX = shutil.which("firefox-esr") or shutil.which("firefox")
PREFS = {
    "media.navigator.streams.fake": "true",  # a generated tone instead of a real device
    "media.navigator.permission.disabled": "true",
    "media.autoplay.default": "0",  # a scripted click is no user gesture: allow Web Audio
    "media.autoplay.block-webaudio": "false",
    "browser.shell.checkDefaultBrowser": "false",
    "datareporting.policy.dataSubmissionEnabled": "false",
    "toolkit.telemetry.reportingpolicy.firstRun": "false",
}


def wait_for_port(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"Firefox did not open Marionette on {port}")


def wait_until(read, predicate, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    value = read()
    while not predicate(value):
        assert time.monotonic() < deadline, f"timed out; last value {value!r}"
        time.sleep(0.3)
        value = read()
    return value


@pytest.mark.skipif(
    FIREFOX is None, reason="no firefox: install firefox-esr with 'make system-deps'"
)
def test_page_streams_from_firefox(tmp_path) -> None:
    from marionette_driver.marionette import Marionette

    rig = GatewayRig(replace(Limits(), silence_timeout_s=60.0))
    port = free_port()
    profile = tmp_path / "profile"
    profile.mkdir()
    prefs = {**PREFS, "marionette.port": str(port)}
    (profile / "user.js").write_text(
        "".join(f'user_pref("{key}", {value});\n' for key, value in prefs.items())
    )
    firefox = subprocess.Popen(
        [FIREFOX, "-headless", "-marionette", "-no-remote", "-profile", str(profile)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results = {}
    try:
        wait_for_port(port, 60)
        client = Marionette(host="127.0.0.1", port=port)
        client.start_session()
        lane_info = 'return document.querySelector(".lane-info").textContent'
        for query in ("", "?rate=device"):
            client.navigate(rig.gateway.http + "/" + query)
            wait_until(
                lambda: client.execute_script(
                    'return document.getElementById("health").textContent'
                ),
                lambda text: "worker" in text,
                20,
            )
            client.execute_script('document.getElementById("mic").click()')
            wait_until(lambda: client.execute_script(lane_info), lambda t: "push:" in t, 30)
            time.sleep(3.0)  # 3 s of the tone
            client.execute_script('document.getElementById("mic").click()')
            closed = wait_until(
                lambda: client.execute_script(lane_info), lambda t: "closed" in t, 120
            )
            page = "return window.wrappedJSObject.streamscribe"
            rate = client.execute_script(page + ".lastRate")
            context = client.execute_script(page + ".contextState")
            results[query or "default"] = (closed, rate, context)
        client.delete_session()
    finally:
        firefox.terminate()
        try:
            firefox.wait(timeout=15)
        except subprocess.TimeoutExpired:
            firefox.kill()
        rig.close()
    for name, (closed, rate, context) in results.items():
        assert closed.startswith("closed 1000: done"), (name, closed)
        seconds = float(re.search(r"\(([\d.]+) s of audio\)", closed).group(1))
        assert seconds >= 2.0 or context == "suspended", (name, closed, context)
        assert rate, name
    assert results["default"][1] == 16000  # Firefox takes a 16 kHz context
    assert results["?rate=device"][1] != 16000  # the worklet resampled the device's rate
