"""The first partial of an utterance: sooner, over less audio, shown but never agreed on.

Where the time to an utterance's first partial goes (balanced, ``bench/commit_latency.py
--simulate`` on the dictation): the VAD decides speech started ~0.27 s after it did
(``vad.min_speech_ms`` 250), sends ``SpeechOngoing`` every 0.25 s after that, and a partial waits
until its window (the 0.3 s pre-roll included) holds ``asr.partial_min_audio_s`` (1 s): the third
``SpeechOngoing``, ~0.77 s after speech began; its request then takes ~0.22 s (an encoder pass
over at least 10 s): ~1.0 s in all.

A segment's first partial may go once its window holds half of ``partial_min_audio`` (at least
``PREVIEW_MIN_AUDIO_S``): on balanced that is the first ``SpeechOngoing``, ~0.5 s after speech
began. Whisper often guesses wrong over half a second of speech ("A fix in breath." for "The fix
is ready"), and two such guesses a second apart can agree on a wrong word, which would then be
committed. So a partial over less than ``partial_min_audio`` is a *preview*: published as
unstable text, never fed to the local agreement; commits come from the partials after it, each
over at least ``partial_min_audio`` as before.

The VAD sends a segment's first ``SpeechOngoing`` 0.1 s after its start decision and once
0.35 s of speech was heard (``pipeline.vad.state_machine.FIRST_PROGRESS_S`` and
``FIRST_PROGRESS_SPEECH_S``), not one full 0.25 s step after the decision. A preview that gives
nothing (dropped by the worker as suspect, cancelled, or empty) does not hold the next one back
a partial interval: while the segment has shown nothing, the next preview goes with the next
audio (``commits``), up to ``PREVIEW_TRIES`` requests (noise or music that never gives text
falls back to the usual cadence). Simulated on the dictation (``bench/commit_latency.py --simulate
--cost-model``, before -> after): first partial p50 797 -> 706 ms balanced, 710 -> 657 ms
low-latency; user latency, WER and commits unchanged or better; engine CPU +5 % / +9 %.

A preview's suspect answer (a loop, a rejected text: "Welcome to the next one." over 0.7 s of
audio) is dropped by the worker like an empty one (``TranscribeRequest.preview``) instead of
being decoded again on the 10 s and then the 30 s window: that second and third pass held the
worker ~1.8 s for text that is only shown, and beside another stream it held the only worker
partials may use (bench/streams.py's dictation-01 sentence, 3.7-4.1 s).

Where the time goes now (balanced, ``bench/commit_latency.py --simulate --cost-model``,
dictation_dev): a segment's first preview is sent 0.39-0.45 s after the reference speech start
(the VAD's start decision, then ``FIRST_PROGRESS_S``; its window is the 0.3 s pre-roll and
~0.38 s of speech) and takes ~0.16 s on the previews' own encoder floor
(``asr.audio_ctx_preview_min_s``, 5 s: 250 frames; ~0.18 s on the partials' 6 s floor). A
preview shown at once reaches the subscriber 0.54-0.60 s after speech began; one dropped as
suspect and tried again with the next audio 0.76-0.79 s. So the p50 is decided by how many first
previews fail Whisper's checks: 3 of 8 segments on dictation_dev, about half on the synthetic
dictation, 79 of whose 92 suspect previews failed only the log-probability check. Shown anyway
(dictation_dev: 591 -> 562 ms), their first word was wrong 42 times in 79 against 32 in 92 for
the previews that passed ("Thank you.", "I will kill him." for "our quarterly report is"): left
off. A looser bar for previews only (mean log-probability -1.2 instead of -1.0) gave on the
synthetic dictation a p50 of 555 ms against 732 (54 suspect of 161 previews), but the previews it
adds had the first word right 15 times in 35 (those between -1.0 and -0.8, already shown, 13 in
27), and the shifted schedule gave WER 0.3398 against 0.3335: not landed, a choice of how wrong a
first guess may be. Less audio is no cure: the first preview 50 ms sooner (``FIRST_PROGRESS_S`` 0.05, 0.63 s
windows) had 6 of 14 suspect and a p50 of 770 ms against 614; at the start decision 693 ms. Nor
is dropping the prompt of a preview: 5 of 12 suspect, 591 -> 678 ms. Nor a beam search (3 or 4
beams, temperature 0, on the same encoder output) for a preview that failed only the
log-probability check: on dictation_dev 1 of its 3 failing previews qualified and still failed
(-1.16 -> -1.05: first partial p50 591 ms either way); on the synthetic dictation the beams' texts
were often further off than the greedy ones ("Check this out." -> "Thank you for watching.",
"She missed me." -> "Thank you. Thank you.") and 22 of the first 30 still failed the check.

A preview's prompt is the stream's last segment text (``SegmentScheduler.prompt``), not the
recent finals' 400-character tail the segment's partials and finals get
(``CommitOptions.prompt_recent_chars``): with the long prompt one more of dictation_dev's 8 first
previews failed Whisper's checks in realtime (``bench/daemon_e2e.py --files dictation_dev.wav
--profiles balanced --no-fault``, quiet, 4 against 3 dropped as suspect in three runs), moving
the first partial p50 from 589-602 ms to 733-765 ms. A preview is never agreed on, so its
prompt does not reach the committed text. With the preview's own prompt: 607 ms realtime (3
suspect), 591 ms simulated (574.5 with the long one: the simulation's schedule differs).

What did not work: a preview at the start decision itself (~0.27 s of speech; 956 ms), or over
0.3 s of speech (low-latency; 1376 ms): those short windows' answers often fail Whisper's
fallback checks and are decoded again over the full 30 s window, holding the worker ~1.1 s.
Over ~0.35 s of speech a preview still sometimes shows a hallucination ("Thanks for watching!")
for the second until the next partial replaces it.
"""

from __future__ import annotations

from pipeline.audio_format import seconds_to_samples
from pipeline.messages.work import TranscribeRequest
from pipeline.scheduling.options import SchedulerOptions

PREVIEW_MIN_AUDIO_S = 0.5  # a preview never covers less audio than this (pre-roll included)
PREVIEW_TRIES = 3  # previews of a segment that gave nothing, at most, before the usual cadence


def partial_min_samples(options: SchedulerOptions, first: bool) -> int:
    """Least audio a partial window must hold: half of ``partial_min_audio`` (at least
    ``PREVIEW_MIN_AUDIO_S``) for a segment's ``first`` partial, all of it otherwise."""
    full = max(options.partial_min_audio_samples, 1)
    if not first:
        return full
    return min(full, max(full // 2, seconds_to_samples(PREVIEW_MIN_AUDIO_S)))


def is_preview(request: TranscribeRequest, options: SchedulerOptions) -> bool:
    """A partial over less than ``partial_min_audio``: shown, never agreed on."""
    return request.end_index - request.start_index < options.partial_min_audio_samples
