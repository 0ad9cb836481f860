"""`run.py devices` lists PortAudio inputs (here: ALSA's default routed to a file plugin)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.test_sources_mic import needs_portaudio

ROOT = Path(__file__).resolve().parents[1]


@needs_portaudio
def test_devices_lists_the_default_input(tmp_path: Path) -> None:
    raw = tmp_path / "input.raw"
    raw.write_bytes(b"\0" * 64000)
    asoundrc = tmp_path / "asoundrc"
    asoundrc.write_text(
        'pcm.!default { type plug; slave { pcm "filein"; rate 44100; channels 2; format S16_LE } }\n'
        f'pcm.filein {{ type file; slave.pcm "null"; file "/dev/null"; infile "{raw}"; format "raw" }}\n'
    )
    env = {**os.environ, "ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{asoundrc}"}
    listed = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "devices", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    devices = json.loads(listed.stdout)
    default = [d for d in devices if d["is_default"]]
    assert default and default[0]["max_input_channels"] >= 1 and default[0]["default_rate_hz"] > 0
    text = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "devices"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert text.returncode == 0 and "*" in text.stdout and "Hz" in text.stdout
