"""A real daemon on a push stream and the web gateway in front of it, for the gateway tests.

The daemon runs as ``run.py daemon --source push:s16le:16000`` (its own process tree); the
gateway runs in this process on a thread with its own event loop, so a test can give it small
limits. A ZeroMQ subscriber collects the daemon's finals beside the WebSocket clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import numpy as np

from gateway.app import serve
from gateway.options import GatewayOptions, Limits
from pipeline.messages import TranscriptFinal
from pipeline.subscriber import TranscriptSubscriber
from tests.daemon_harness import DaemonRun
from tests.data_paths import DATA_DIR, REPO_ROOT

DAEMON_START_S = 120.0  # the loaded CI machine can take this long to load the model


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class GatewayThread:
    """``gateway.app.serve`` on a thread; ``stop`` cancels it."""

    def __init__(self, options: GatewayOptions) -> None:
        self.options = options
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self._task: asyncio.Task | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name="gateway")
        self.thread.start()
        assert self.ready.wait(30), "the gateway did not start"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        started = asyncio.Event()

        async def main() -> None:
            self._task = asyncio.current_task()
            waiter = asyncio.create_task(started.wait())
            waiter.add_done_callback(lambda _: self.ready.set())
            await serve(self.options, started)

        with contextlib.suppress(asyncio.CancelledError):
            self.loop.run_until_complete(main())

    @property
    def http(self) -> str:
        return f"http://{self.options.host}:{self.options.port}"

    @property
    def ws(self) -> str:
        return f"ws://{self.options.host}:{self.options.port}"

    def stop(self) -> None:
        if self._task is not None:
            self.loop.call_soon_threadsafe(self._task.cancel)
        self.thread.join(timeout=15)


class GatewayProcess:
    """``run.py serve`` in front of ``daemon`` as its own process (benches: no shared GIL)."""

    def __init__(self, daemon: DaemonRun, options: GatewayOptions) -> None:
        self.options = options
        command = [
            sys.executable,
            str(REPO_ROOT / "run.py"),
            "serve",
            "--instance",
            daemon.instance,
            "--set",
            f"outputs.runtime_dir={daemon.runtime_dir}",
            "--port",
            str(options.port),
            *(["--open-streams"] if options.open_streams else []),
        ]
        self._log = (daemon.runtime_dir / "gateway.log").open("ab")
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO_ROOT
        )

    http = GatewayThread.http
    ws = GatewayThread.ws

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self._log.close()


class GatewayRig:
    """Daemon + gateway + a ZeroMQ subscriber of every final."""

    def __init__(
        self,
        limits: Limits | None = None,
        *extra: str,
        gateway_process: bool = False,
        open_streams: bool = False,
    ) -> None:
        self.daemon = DaemonRun("--source", "push:s16le:16000", "--pace", "fast", *extra)
        self.daemon.start()
        self.daemon.wait_for(
            lambda s: (
                any(r["role"].startswith("asr") and r["state"] == "ready" for r in s["processes"])
                and "push" in s["endpoints"]
            ),
            DAEMON_START_S,
            "a ready worker and the push endpoint",
        )
        options = GatewayOptions(
            port=free_port(),
            control_endpoint=self.daemon.endpoint("control"),
            transcript_endpoint=self.daemon.endpoint("transcript"),
            status_interval_s=0.5,
            open_streams=open_streams,
            limits=limits or replace(Limits(), silence_timeout_s=4.0, max_connections=20),
        )
        self.gateway: GatewayThread | GatewayProcess = (
            GatewayProcess(self.daemon, options) if gateway_process else GatewayThread(options)
        )
        self.finals: list[tuple[TranscriptFinal, float]] = []  # (final, time.time() at arrival)
        self._stop = threading.Event()
        self._subscriber = threading.Thread(target=self._subscribe, daemon=True)
        self._subscriber.start()
        self.wait_healthy()

    def _subscribe(self) -> None:
        with TranscriptSubscriber(
            self.daemon.endpoint("transcript"), self.daemon.endpoint("control"), from_seq=0
        ) as subscriber:
            while not self._stop.is_set():
                message = subscriber.receive(timeout_ms=200)
                if isinstance(message, TranscriptFinal):
                    self.finals.append((message, time.time()))

    def wait_healthy(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.get("/healthz")[0] == 200:
                return
            time.sleep(0.2)
        raise AssertionError(f"gateway not healthy: {self.get('/healthz')}")

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.gateway.http + path, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except (urllib.error.URLError, ConnectionError) as e:  # not listening yet
            return 0, str(e)

    def status(self) -> dict:
        return json.loads(self.get("/v1/status")[1])

    def finals_between(self, start_s: float, end_s: float) -> list[TranscriptFinal]:
        return [f for f, _ in self.finals if start_s <= (f.start_s + f.end_s) / 2 < end_s]

    def close(self) -> None:
        self._stop.set()
        self._subscriber.join(timeout=5)
        self.gateway.stop()
        self.daemon.cleanup()


def s16le_frames(name: str, frame_samples: int = 1600) -> list[bytes]:
    """A dev recording as 16 kHz mono s16le frames (100 ms each by default)."""
    from pipeline.sources import open_source

    path = Path(name) if Path(name).is_absolute() else DATA_DIR / name
    with open_source(f"file:{path}", block_duration_ms=100, pace="fast") as source:
        samples = np.concatenate(list(source.blocks()))
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    step = frame_samples * 2
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


def reference(name: str) -> str:
    """The reference text of a recording (references.json, or the file's own JSON)."""
    references = json.loads((DATA_DIR / "references.json").read_text())
    if name in references:
        return references[name]
    return json.loads((DATA_DIR / name).with_suffix(".json").read_text())["text"]


def deepgram_client(rig: GatewayRig):
    """The official Deepgram SDK client, pointed at ``rig``'s gateway instead of the cloud."""
    from deepgram import DeepgramClient
    from deepgram.environment import DeepgramClientEnvironment

    host = f"127.0.0.1:{rig.gateway.options.port}"
    environment = DeepgramClientEnvironment(
        base=f"http://{host}",
        production=f"ws://{host}",
        agent=f"ws://{host}",
        agent_rest=f"http://{host}",
    )
    return DeepgramClient(api_key="local-key", environment=environment, reconnect=False)
