"""VAD units: state machine transitions with a fake detector, framing, tiers, block sizes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import ModelError
from pipeline.vad import (
    SegmenterParams,
    SpeechDetector,
    SpeechEnd,
    SpeechPause,
    SpeechProgress,
    SpeechResume,
    SpeechStart,
    StreamVad,
    VadEvent,
    WindowVerdict,
)
from pipeline.vad.energy import SILENCE_FLOOR_DBFS, EnergyGate, rms_dbfs

W = 512  # detector window in samples
DATA_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
LOUD = 0.3  # amplitude of fake "speech" noise (about -15 dBFS RMS)


class LevelDetector(SpeechDetector):
    """Fake detector: a window is speech when its RMS level is above -40 dBFS."""

    threshold_dbfs = -40.0

    def _judge(self, context: np.ndarray, window_offset_samples: int) -> WindowVerdict:
        level = rms_dbfs(context[self.window_samples :])
        speech = level > self.threshold_dbfs
        return WindowVerdict(speech, float(speech), level, "fake")


PARAMS = SegmenterParams(
    min_speech_samples=8 * W,
    hangover_samples=16 * W,
    pre_roll_samples=6 * W,
    max_segment_samples=160_000,
    partial_interval_samples=16_000,
    max_start_gap_samples=2 * W,
    split_lookback_samples=80_000,
)


def noise(n_samples: int, amplitude: float = LOUD, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (amplitude * rng.uniform(-1, 1, n_samples) * np.sqrt(3)).astype(np.float32)


def silence(n_samples: int) -> np.ndarray:
    return np.zeros(n_samples, dtype=np.float32)


def run(
    vad: StreamVad, audio: np.ndarray, start_index: int = 0, block_sizes: list[int] | None = None
) -> list[VadEvent]:
    """Feed ``audio`` (float32, shape (n,)) in blocks cycling through ``block_sizes``; flush."""
    sizes = block_sizes or [320]
    events: list[VadEvent] = []
    pos = 0
    k = 0
    while pos < audio.size:
        size = sizes[k % len(sizes)]
        events += vad.process(audio[pos : pos + size], start_index + pos)
        pos += size
        k += 1
    return events + vad.flush()


def of(events: list[VadEvent], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def test_short_burst_makes_no_segment() -> None:
    audio = np.concatenate([silence(32 * W), noise(7 * W), silence(64 * W)])
    assert run(StreamVad(LevelDetector(), PARAMS), audio) == []


def test_min_speech_pre_roll_and_hangover() -> None:
    speech_start, speech_len = 32 * W, 20 * W
    audio = np.concatenate([silence(speech_start), noise(speech_len), silence(64 * W)])
    events = run(StreamVad(LevelDetector(), PARAMS), audio)
    (start,) = of(events, SpeechStart)
    (end,) = of(events, SpeechEnd)
    assert start.decided_index == speech_start + PARAMS.min_speech_samples
    assert start.start_index == speech_start - PARAMS.pre_roll_samples
    assert end.end_index == speech_start + speech_len + PARAMS.hangover_samples
    assert end.decided_index == end.end_index
    assert not end.split
    assert (end.segment_index, end.start_index) == (0, start.start_index)


def test_pause_shorter_than_hangover_keeps_one_segment() -> None:
    audio = np.concatenate(
        [silence(8 * W), noise(12 * W), silence(15 * W), noise(12 * W, seed=1), silence(40 * W)]
    )
    events = run(StreamVad(LevelDetector(), PARAMS), audio)
    assert len(of(events, SpeechStart)) == 1
    assert len(of(events, SpeechEnd)) == 1


def test_pre_roll_clamped_at_stream_start_and_previous_speech() -> None:
    stream_start = 1_000_000  # absolute ring index of the stream's first sample
    gap = PARAMS.hangover_samples + 2 * W  # just long enough to end the first segment
    audio = np.concatenate([noise(12 * W), silence(gap), noise(12 * W, seed=1), silence(40 * W)])
    params = replace(PARAMS, pre_roll_samples=20 * W)  # reaches back past the first speech
    events = run(StreamVad(LevelDetector(), params), audio, start_index=stream_start)
    first, second = of(events, SpeechStart)
    ends = of(events, SpeechEnd)
    assert first.start_index == stream_start
    # The second pre-roll may reach into the first segment's hangover, never into its speech.
    last_speech_end = stream_start + 12 * W
    assert second.start_index == last_speech_end
    assert ends[0].end_index == last_speech_end + PARAMS.hangover_samples
    assert [e.segment_index for e in ends] == [0, 1]


def test_split_at_quietest_point_and_progress_cadence() -> None:
    rate = 16_000
    audio = noise(12 * rate)
    dip = slice(int(7.0 * rate), int(7.2 * rate))
    audio[dip] = noise(dip.stop - dip.start, amplitude=0.03, seed=2)  # quieter, still speech
    events = run(StreamVad(LevelDetector(), PARAMS), audio)
    ends = of(events, SpeechEnd)
    starts = of(events, SpeechStart)
    assert len(ends) == 2 and len(starts) == 2
    assert ends[0].split and not ends[1].split
    assert dip.start <= ends[0].end_index <= dip.stop
    # Split as soon as a window completes the maximum duration.
    assert 0 <= ends[0].decided_index - PARAMS.max_segment_samples < W
    assert starts[1].start_index == ends[0].end_index  # next segment starts right there
    assert all(e.length_samples <= PARAMS.max_segment_samples for e in ends)
    progress = of(events, SpeechProgress)
    first = [p.current_index for p in progress if p.segment_index == 0]
    assert len(first) == 9  # decided at 8192, split at 160256: progress near 1 s, 2 s, ... 9 s
    for k, index in enumerate(first, start=1):
        due = starts[0].decided_index + k * PARAMS.partial_interval_samples
        assert 0 <= index - due < W  # the first window end at or after each due index


def test_split_while_stopping_just_ends() -> None:
    params = SegmenterParams(
        min_speech_samples=8 * W,
        hangover_samples=64 * W,
        pre_roll_samples=0,
        max_segment_samples=100 * W,
        partial_interval_samples=16_000,
        split_lookback_samples=40 * W,
    )
    audio = np.concatenate([noise(90 * W), silence(100 * W)])
    ends = of(run(StreamVad(LevelDetector(), params), audio), SpeechEnd)
    assert len(ends) == 1
    assert ends[0].end_index == 100 * W and not ends[0].split


def test_flush_closes_open_segment_and_gap_restarts() -> None:
    vad = StreamVad(LevelDetector(), PARAMS)
    events = vad.process(noise(20 * W), 0)
    assert len(of(events, SpeechStart)) == 1
    events = vad.process(noise(10 * W), 20 * W + 5_000)  # a gap: audio lost in between
    (end,) = of(events, SpeechEnd)
    assert end.end_index == 20 * W
    (start,) = of(events, SpeechStart)  # 10 windows after the gap: min speech reached at 8
    assert (start.segment_index, start.start_index) == (1, 20 * W + 5_000)
    (end,) = vad.flush(20 * W + 5_000 + 10 * W + 100)
    assert isinstance(end, SpeechEnd)
    assert (end.segment_index, end.end_index) == (1, 20 * W + 5_000 + 10 * W + 100)
    assert vad.next_index == 0  # flushed: ready for a new stream


def test_overlapping_block_is_skipped() -> None:
    audio = np.concatenate([silence(8 * W), noise(20 * W), silence(40 * W)])
    reference = run(StreamVad(LevelDetector(), PARAMS), audio)
    vad = StreamVad(LevelDetector(), PARAMS)
    events = vad.process(audio[:5000], 0)
    events += vad.process(audio[3000:], 3000)  # re-delivers 2000 samples already seen
    assert events + vad.flush() == reference


@pytest.mark.parametrize("sizes", [[W], [1, 7, 1000], [4097], [160, 333, 10_000, 2]])
def test_block_size_invariance_fake(sizes: list[int]) -> None:
    audio = np.concatenate([noise(12 * 16_000), silence(30 * W), noise(40 * W, seed=3)])
    audio[7 * 16_000 : 7 * 16_000 + 3_000] *= 0.1
    reference = run(StreamVad(LevelDetector(), PARAMS), audio, 123, [320])
    assert run(StreamVad(LevelDetector(), PARAMS), audio, 123, sizes) == reference


def test_energy_gate() -> None:
    t = np.arange(16_000) / 16_000
    sine = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    assert rms_dbfs(sine) == pytest.approx(-3.01, abs=0.01)
    assert rms_dbfs(silence(W)) == SILENCE_FLOOR_DBFS
    assert rms_dbfs(np.zeros(0, dtype=np.float32)) == SILENCE_FLOOR_DBFS
    gate = EnergyGate(-55.0)
    assert gate.passes(-54.9) and not gate.passes(-55.1)


@pytest.mark.parametrize("frame_ms", [10, 20, 30])
def test_webrtc_frames_cover_the_grid_once(frame_ms: int) -> None:
    from pipeline.vad.webrtc import WebRtcParams, WebRtcVad

    class Recording(WebRtcVad):
        def __init__(self, params: WebRtcParams) -> None:
            super().__init__(params)
            self.frame_starts: list[int] = []

        def is_speech(self, frame: np.ndarray) -> bool:
            assert frame.shape == (self.params.frame_samples,)
            self.frame_starts.append(round(float(frame[0]) * 2**20))
            return super().is_speech(frame)

    vad = Recording(WebRtcParams(2, frame_ms, pre_emphasis=0.0))
    n_windows = 40
    ramp = (np.arange(n_windows * W) / 2**20).astype(np.float32)  # value encodes its index
    for k in range(n_windows):
        context = ramp[(k - 1) * W : (k + 1) * W] if k else np.concatenate([silence(W), ramp[:W]])
        fraction = vad.speech_fraction(context, W, (k - 1) * W)
        assert 0.0 <= fraction <= 1.0
    frame = vad.params.frame_samples
    assert vad.frame_starts == list(range(0, (n_windows * W // frame) * frame, frame))


def test_webrtc_rejects_bad_frame_length() -> None:
    from pipeline.vad.webrtc import WebRtcParams

    with pytest.raises(ValueError, match="frame_ms"):
        WebRtcParams(2, 25)
    with pytest.raises(ValueError, match="pre_emphasis"):
        WebRtcParams(2, 30, pre_emphasis=1.0)


def test_webrtc_pre_emphasis_is_a_first_difference() -> None:
    from pipeline.vad.webrtc import WebRtcParams, WebRtcVad

    vad = WebRtcVad(WebRtcParams(pre_emphasis=0.5))
    x = np.array([1.0, 2.0, 4.0, 8.0], dtype=np.float32)
    assert vad._pre_emphasize(x).tolist() == [0.5, 1.5, 3.0, 6.0]


def _speech_windows(n: int) -> list[np.ndarray]:
    import soundfile as sf

    audio, _ = sf.read(DATA_DIR / "dictation_dev.wav", dtype="float32", frames=48_000 + n * W)
    return [audio[48_000 + k * W : 48_000 + (k + 1) * W] for k in range(n)]


def test_silero_state_carries_and_resets() -> None:
    from pipeline.vad.silero import SileroParams, SileroVad

    windows = _speech_windows(12)
    silero = SileroVad(SileroParams())
    first = [silero.probability(w) for w in windows]
    carried = [silero.probability(w) for w in windows]
    silero.reset()
    again = [silero.probability(w) for w in windows]
    assert again == first
    assert carried != first  # the recurrent state carried over
    assert max(first) > 0.5
    with pytest.raises(ValueError, match="shape"):
        silero.probability(windows[0][:480])


def test_silero_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    from pipeline.vad.silero import SileroParams, SileroVad

    with pytest.raises(ModelError, match="missing"):
        SileroVad(SileroParams(model_path=str(tmp_path / "nope.onnx")))


def test_tiered_stats_and_reset() -> None:
    from pipeline.vad.tiered import TieredDetector, TieredParams

    windows = _speech_windows(40)
    audio = np.concatenate([silence(20 * W), *windows])
    vad = StreamVad(TieredDetector(TieredParams()), PARAMS)
    first = run(vad, audio, 0, [1000])
    assert run(vad, audio, 0, [1000]) == first  # flush resets detector state
    stats = vad.take_stats()
    assert stats.windows == 2 * 60
    energy, webrtc, silero = stats.tiers
    assert (energy.name, webrtc.name, silero.name) == ("energy", "webrtc", "silero")
    assert energy.windows_stopped == 2 * 20  # digital silence never reaches WebRTC
    assert webrtc.windows_seen == energy.windows_seen - energy.windows_stopped
    assert silero.windows_seen == webrtc.windows_seen - webrtc.windows_stopped
    assert stats.speech_windows == silero.windows_seen - silero.windows_stopped
    assert 0.0 < stats.mean_speech_probability < 1.0
    assert stats.cpu_s > 0.0
    assert vad.stats().windows == 0


def test_no_progress_during_the_hangover_silence() -> None:
    rate = 16_000
    params = SegmenterParams(
        min_speech_samples=8 * W,
        hangover_samples=4 * rate,  # a long hangover: several progress intervals of silence
        pre_roll_samples=6 * W,
        max_segment_samples=600_000,
        partial_interval_samples=rate // 2,
        max_start_gap_samples=2 * W,
        split_lookback_samples=80_000,
    )
    audio = np.concatenate([noise(3 * rate), silence(6 * rate)])
    events = run(StreamVad(LevelDetector(), params), audio)
    (end,) = of(events, SpeechEnd)
    progress = [p.current_index for p in of(events, SpeechProgress)]
    assert progress and max(progress) <= 3 * rate + W  # only while the speech lasted
    assert end.end_index > 3 * rate


def test_pause_and_resume_inside_a_segment() -> None:
    # PARAMS: hangover 16 windows (8192 samples), pause 3200 samples (7 windows of 512).
    speech_1, gap, speech_2 = 40 * W, 12 * W, 40 * W  # the gap: a pause, not an end
    audio = np.concatenate(
        [noise(speech_1), silence(gap), noise(speech_2, seed=1), silence(3 * W), noise(20 * W)]
    )
    events = run(StreamVad(LevelDetector(), PARAMS), np.concatenate([audio, silence(40 * W)]))
    kinds = [type(e).__name__ for e in events if not isinstance(e, SpeechProgress)]
    assert kinds == ["SpeechStart", "SpeechPause", "SpeechResume", "SpeechPause", "SpeechEnd"]
    first, last = of(events, SpeechPause)
    (resume,) = of(events, SpeechResume)
    (end,) = of(events, SpeechEnd)
    assert first.pause_index == speech_1 and first.pause_number == 0
    assert first.decided_index == speech_1 + 7 * W  # the first window with 3200 samples of silence
    assert resume.resume_index == speech_1 + gap and resume.pause_number == 0
    assert last.pause_number == 1 and last.pause_index == audio.size
    assert end.end_index == audio.size + PARAMS.hangover_samples
    # the 3-window silence inside the second stretch was no pause


def test_pause_disabled_and_bounded_by_the_hangover() -> None:
    quiet = replace(PARAMS, pause_samples=0)
    audio = np.concatenate([noise(40 * W), silence(12 * W), noise(40 * W), silence(40 * W)])
    events = run(StreamVad(LevelDetector(), quiet), audio)
    assert not of(events, SpeechPause) and not of(events, SpeechResume)
    with pytest.raises(ValueError, match="pause_samples"):
        replace(PARAMS, pause_samples=PARAMS.hangover_samples)


def test_a_tentative_pause_goes_before_the_confirmed_one() -> None:
    # pause_decode 3 windows (1536 samples) before the pause's 3200; a 5-window gap is tentative
    # only (a resume follows it); a 12-window gap is tentative, then confirmed.
    early = replace(PARAMS, pause_decode_samples=3 * W)
    speech_1, short, speech_2, gap = 40 * W, 5 * W, 40 * W, 12 * W
    audio = np.concatenate(
        [noise(speech_1), silence(short), noise(speech_2, seed=1), silence(gap), noise(20 * W)]
    )
    events = run(StreamVad(LevelDetector(), early), np.concatenate([audio, silence(40 * W)]))
    pauses = [
        (e.pause_number, e.tentative, e.decided_index, e.confirm_index)
        for e in of(events, SpeechPause)
    ]
    second_gap = speech_1 + short + speech_2
    assert pauses[:3] == [
        (0, True, speech_1 + 3 * W, speech_1 + 7 * W),  # confirmed there if the silence went on
        (1, True, second_gap + 3 * W, second_gap + 7 * W),
        (1, False, second_gap + 7 * W, 0),
    ]
    resumes = [(e.pause_number, e.resume_index) for e in of(events, SpeechResume)]
    assert resumes == [(0, speech_1 + short), (1, second_gap + gap)]
    with pytest.raises(ValueError, match="pause_decode_samples"):
        replace(PARAMS, pause_decode_samples=PARAMS.pause_samples)
