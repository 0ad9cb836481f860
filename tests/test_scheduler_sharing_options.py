"""The ``streams`` keys of streams sharing the pool (``options.SharingOptions``): read from the
configuration into the scheduler's options, the daemon's defaults, and invalid values refused
naming the key. What each one changes in the scheduler: tests/test_sentence_ends_short_pause.py
(short_pause_unsent), tests/test_early_final_tentative_preempts.py (tentative_preempts),
tests/test_sentence_ends_starved.py and tests/test_partial_budget.py (starved_s,
starved_priority)."""

from __future__ import annotations

import pytest

from config.loader import as_tree, from_tree, load_config
from config.schema import Config
from pipeline.errors import ConfigError
from pipeline.scheduling import SchedulerOptions
from pipeline.scheduling.options import SharingOptions
from pipeline.scheduling.scheduler import default_work
from tests.test_scheduler_fakes import sharing


def test_the_defaults_are_the_daemons_and_leave_every_lever_off() -> None:
    assert sharing() == SharingOptions() == SharingOptions.from_config(Config().streams)
    assert SharingOptions() == SharingOptions(
        short_pause_unsent=False, tentative_preempts=False, starved_s=0.0
    )


def test_the_keys_reach_the_scheduler_and_round_trip() -> None:
    cli = {
        "streams.short_pause_unsent": "true",
        "streams.tentative_preempts": "true",
        "streams.starved_s": "3.0",
        "streams.starved_priority": "one",
    }
    config = load_config(environ={}, cli_overrides=cli).config
    assert from_tree(as_tree(config)) == config
    options = SchedulerOptions.from_config(config, "whisper", "tiny.en")
    assert options.sharing == SharingOptions(True, True, 3.0, "one")
    (kind,) = default_work(options)
    assert kind.sharing is options.sharing  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("streams.starved_s", "-1"),
        ("streams.starved_s", "soon"),
        ("streams.starved_priority", "first"),
        ("streams.tentative_preempts", "maybe"),
        ("streams.short_pause_unsent", "2"),
    ],
)
def test_an_invalid_value_is_refused_naming_the_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(environ={}, cli_overrides={key: value})


def test_the_options_refuse_what_the_config_would() -> None:
    with pytest.raises(ValueError, match="starved_s"):
        SharingOptions(starved_s=-0.5)
    with pytest.raises(ValueError, match="starved_priority"):
        SharingOptions(starved_priority="first")
