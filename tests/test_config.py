"""Configuration: precedence, profiles, provenance and every kind of invalid value."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from config.loader import as_tree, from_tree, load_config, parse_assignments
from config.profiles import PROFILES
from config.schema import Config
from pipeline.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "streamscribe.toml"
    path.write_text(text)
    return path


def test_defaults_are_balanced_profile_and_default_toml_matches_schema() -> None:
    loaded = load_config(environ={})
    assert loaded.config.profile == "balanced"
    assert loaded.config.vad.silero == "confirm"
    # the shipped default.toml names every key with its built-in value
    from_file = load_config(ROOT / "config" / "default.toml", environ={})
    assert from_file.config == Config()
    assert set(from_file.sources.values()) == {f"file:{ROOT / 'config' / 'default.toml'}"}
    from config.default_toml import render

    assert (ROOT / "config" / "default.toml").read_text() == render(), (
        "run: python -m config.default_toml"
    )


def test_precedence_default_profile_file_env_cli(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'profile = "low-latency"\n[vad]\nhangover_ms = 450\nmin_speech_ms = 200\npre_roll_ms = 100\n'
        "[asr]\nworkers = 2\n",
    )
    environ = {"STREAMSCRIBE_VAD__MIN_SPEECH_MS": "220", "STREAMSCRIBE_ASR__WORKERS": "3"}
    loaded = load_config(path, environ=environ, cli_overrides={"asr.workers": "4"})
    config, sources = loaded.config, loaded.sources
    assert config.profile == "low-latency" and sources["profile"] == f"file:{path}"
    assert config.vad.pause_ms == 150  # profile over default
    assert sources["vad.pause_ms"] == "profile:low-latency"
    assert config.vad.hangover_ms == 450  # file over profile
    assert config.vad.pre_roll_ms == 100
    assert config.vad.min_speech_ms == 220  # env over file
    assert sources["vad.min_speech_ms"] == "env:STREAMSCRIBE_VAD__MIN_SPEECH_MS"
    assert config.asr.workers == 4  # cli over env
    assert sources["asr.workers"] == "cli"
    assert config.vad.energy_gate_dbfs == -55.0 and sources["vad.energy_gate_dbfs"] == "default"


def test_profile_chosen_by_highest_source(tmp_path: Path) -> None:
    path = write(tmp_path, 'profile = "power-saving"\n')
    loaded = load_config(path, environ={"STREAMSCRIBE_PROFILE": "high-accuracy"})
    assert loaded.config.profile == "high-accuracy"
    assert loaded.config.vad.silero == "always"
    loaded = load_config(path, environ={}, cli_overrides={"profile": "low-latency"})
    assert loaded.config.profile == "low-latency"


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_each_profile_loads_with_its_values(profile: str) -> None:
    config = load_config(environ={}, cli_overrides={"profile": profile}).config
    for section, entries in PROFILES[profile].items():
        for key, value in entries.items():
            assert getattr(getattr(config, section), key) == value, f"{profile} {section}.{key}"


def test_profiles_differ_where_they_should() -> None:
    def vad(profile: str) -> object:
        return load_config(environ={}, cli_overrides={"profile": profile}).config.vad

    assert vad("power-saving").silero == "off"
    assert vad("high-accuracy").silero == "always"
    assert (
        vad("low-latency").hangover_ms
        < vad("balanced").hangover_ms
        < vad("power-saving").hangover_ms
    )


@pytest.mark.parametrize(
    ("toml", "environ", "cli", "needles"),
    [
        ("[vad]\nhangovr_ms = 3\n", {}, {}, ["unknown key 'vad.hangovr_ms'", "hangover_ms"]),
        ("[vda]\nhangover_ms = 3\n", {}, {}, ["unknown section 'vda'"]),
        ('[asr]\nworkers = "two"\n', {}, {}, ["asr.workers = 'two'", "an integer in [1, 16]"]),
        ("[asr]\nworkers = 0\n", {}, {}, ["asr.workers = 0", "out of range", "[1, 16]"]),
        ("[asr]\nworkers = true\n", {}, {}, ["asr.workers = True", "an integer"]),
        (
            '[vad]\nsilero = "maybe"\n',
            {},
            {},
            ["vad.silero = 'maybe'", "'off', 'confirm', 'always'"],
        ),
        ("[vad]\nwebrtc_frame_ms = 25\n", {}, {}, ["vad.webrtc_frame_ms = 25", "10, 20, 30"]),
        ('[vad]\nwebrtc = "sometimes"\n', {}, {}, ["vad.webrtc = 'sometimes'", "boolean"]),
        ("[ring]\ncapacity_s = nan\n", {}, {}, ["ring.capacity_s = nan"]),
        ("[asr]\ntemperatures = [0.0, 5.0]\n", {}, {}, ["asr.temperatures", "[0.0, 2.0]"]),
        ("vad = 3\n", {}, {}, ["vad in file", "table of keys"]),
        ("[vad\n", {}, {}, ["not valid TOML"]),
        (
            "",
            {"STREAMSCRIBE_ASR__WORKRES": "2"},
            {},
            ["unknown key 'asr.workres'", "env:STREAMSCRIBE_ASR__WORKRES"],
        ),
        (
            "",
            {"STREAMSCRIBE_ASR__WORKERS": "-1"},
            {},
            ["asr.workers = '-1'", "(from env:STREAMSCRIBE_ASR__WORKERS)"],
        ),
        (
            "",
            {"STREAMSCRIBE_NOPE__X": "1"},
            {},
            ["unknown section 'nope'", "env:STREAMSCRIBE_NOPE__X"],
        ),
        ("", {}, {"profile": "fast"}, ["profile = 'fast'", "'balanced'"]),
        ("", {}, {"asr.beam_size": "1.5"}, ["asr.beam_size = '1.5'", "(from cli)"]),
        ("", {}, {"workers": "2"}, ["must look like section.key"]),
        (
            "[asr]\nchunk_duration_s = 5\noverlap_duration_s = 5\n",
            {},
            {},
            ["overlap_duration_s", "less than"],
        ),
        ("[vad]\nmax_segment_s = 100\n", {}, {}, ["vad.max_segment_s = 100", "ring.capacity_s"]),
    ],
)
def test_invalid_values_name_key_value_and_allowed(
    tmp_path: Path, toml: str, environ: dict, cli: dict, needles: list[str]
) -> None:
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, environ=environ, cli_overrides=cli)
    for needle in needles:
        assert needle in str(excinfo.value), (needle, str(excinfo.value))


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.toml", environ={})


def test_other_streamscribe_variables_are_not_config_keys() -> None:
    loaded = load_config(environ={"STREAMSCRIBE_CACHE_DIR": "/tmp/x", "HOME": "/root"})
    assert loaded.config == Config()


def test_tree_round_trip_revalidates() -> None:
    config = load_config(environ={}, cli_overrides={"profile": "high-accuracy"}).config
    assert from_tree(as_tree(config)) == config
    bad = as_tree(config)
    bad["asr"]["workers"] = 99
    with pytest.raises(ConfigError, match=r"asr\.workers"):
        from_tree(bad)


def test_config_is_frozen() -> None:
    config = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.asr.workers = 3  # type: ignore[misc]


def test_parse_assignments() -> None:
    assert parse_assignments(["asr.workers=2", " vad.silero = off "]) == {
        "asr.workers": "2",
        "vad.silero": "off",
    }
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        parse_assignments(["asr.workers"])


def test_cli_config_show_prints_values_with_sources(tmp_path: Path) -> None:
    path = write(tmp_path, "[asr]\nworkers = 2\n")
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "run.py"),
            "config",
            "show",
            "--config",
            str(path),
            "--profile",
            "low-latency",
            "--set",
            "vad.hangover_ms=420",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert 'profile = "low-latency"  # cli' in result.stdout
    assert f"workers = 2  # file:{path}" in result.stdout
    assert "hangover_ms = 420  # cli" in result.stdout
    assert "min_speech_ms = 150  # profile:low-latency" in result.stdout


def test_cli_rejects_invalid_value_with_clear_message() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "config", "show", "--set", "asr.workers=zero"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "asr.workers = 'zero'" in result.stderr
    assert "Traceback" not in result.stderr
