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
over at least ``partial_min_audio`` as before. A partial sooner than the VAD's start decision
(less than ~0.3 s of speech) said nothing useful on the dev files and often fell back to the
full 30 s window, so none goes before the first ``SpeechOngoing``.
"""

from __future__ import annotations

from pipeline.audio_format import seconds_to_samples
from pipeline.messages.work import TranscribeRequest
from pipeline.scheduling.options import SchedulerOptions

PREVIEW_MIN_AUDIO_S = 0.5  # a preview never covers less audio than this (pre-roll included)


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
