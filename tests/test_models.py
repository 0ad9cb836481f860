"""Model resolution, CTranslate2 conversion and the cache, on the real embedded tiny.en."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest

from pipeline.errors import ModelError
from pipeline.models import convert, list_cached_models, resolve_model, store
from pipeline.models.ct2_reader import read_ct2_model
from pipeline.models.resolve import EMBEDDED_NAME, embedded_model_dir


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("model-cache")
    mp.setenv(store.CACHE_DIR_ENV, str(root))
    mp.setenv("HF_HUB_OFFLINE", "1")
    yield root
    mp.undo()


@pytest.fixture(scope="module")
def converted(cache_dir) -> Path:
    return resolve_model("", "none")


def test_embedded_model_converts_into_mlx_layout(converted, cache_dir):
    assert converted.parent == cache_dir
    assert converted.name.startswith(f"{EMBEDDED_NAME}-")
    config = json.loads((converted / "config.json").read_text())
    assert config["n_vocab"] == 51864 and config["n_audio_layer"] == 4
    assert "quantization" not in config
    assert (converted / "weights.safetensors").is_file()
    assert not list(cache_dir.glob(".tmp-*"))  # nothing half-written left behind


def test_mlx_whisper_loads_the_conversion(converted):
    from mlx_whisper.load_models import load_model

    model = load_model(str(converted))
    assert model.dims.n_text_head == 6
    assert model.alignment_heads.shape == (8, 2)  # tiny.en's heads from the ct2 config


def test_conversion_is_cached(converted, monkeypatch):
    stamp = (converted / "weights.safetensors").stat().st_mtime_ns

    def must_not_convert(*_args, **_kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(convert, "read_ct2_model", must_not_convert)
    started = time.perf_counter()
    assert resolve_model("", "none") == converted
    assert time.perf_counter() - started < 2.0
    assert (converted / "weights.safetensors").stat().st_mtime_ns == stamp


def test_cache_key_follows_content(converted, tmp_path, monkeypatch):
    src = embedded_model_dir()
    copy = tmp_path / "ct2"
    copy.mkdir()
    (copy / "model.bin").symlink_to(src / "model.bin")
    shutil.copy(src / "config.json", copy / "config.json")  # same content, another place
    config = json.loads((src / "config.json").read_text())
    installed: list[Path] = []
    monkeypatch.setattr(store, "install", lambda final, write: installed.append(final) or final)
    convert.convert_ctranslate2(copy, "none", name=EMBEDDED_NAME)
    config["suppress_ids"] = config["suppress_ids"][:-1]
    (copy / "config.json").write_text(json.dumps(config))
    changed = convert.convert_ctranslate2(copy, "none", name=EMBEDDED_NAME)
    assert installed == [changed]  # the first key was already in the cache
    assert changed != converted


def test_list_cached_models(converted):
    models = {m.path: m for m in list_cached_models()}
    entry = models[converted]
    assert entry.name == EMBEDDED_NAME and entry.quantization == "none"
    assert entry.size_bytes > 50_000_000
    assert entry.source == str(embedded_model_dir())


def test_missing_model_bin_names_the_file(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelError, match=r"model\.bin"):
        convert.convert_ctranslate2(tmp_path, "none")


@pytest.mark.parametrize("content", [b"", b"\x06\x00\x00\x00garbage", None])
def test_corrupt_model_bin_names_the_file(tmp_path, content):
    path = tmp_path / "model.bin"
    if content is None:  # a real file cut short
        with (embedded_model_dir() / "model.bin").open("rb") as f:
            content = f.read(200_000)
    path.write_bytes(content)
    with pytest.raises(ModelError, match=re.escape(str(path))):
        read_ct2_model(path)


def test_unknown_sources_fail_clearly(cache_dir, tmp_path):
    with pytest.raises(ModelError, match="no such model"):
        resolve_model(str(tmp_path / "absent"), "none")
    with pytest.raises(ModelError, match="not a model directory"):
        resolve_model(str(tmp_path), "none")
    started = time.perf_counter()
    with pytest.raises(ModelError, match="HF_HUB_OFFLINE"):
        resolve_model("nobody/no-such-whisper", "none")
    assert time.perf_counter() - started < 10
    with pytest.raises(ModelError, match="quantization"):
        resolve_model("", "3bit")


def test_quantized_conversion(converted, tmp_path):
    quantized = resolve_model("", "8bit")
    assert quantized.name.endswith("-q8") and quantized != converted
    config = json.loads((quantized / "config.json").read_text())
    assert config["quantization"] == {"group_size": 64, "bits": 8}
    from mlx_whisper.load_models import load_model

    model = load_model(str(quantized))
    assert type(model.decoder.token_embedding).__name__ == "QuantizedEmbedding"
    # an MLX directory given by path is quantized into the cache too
    local = tmp_path / "mlx-tiny"
    shutil.copytree(converted, local)
    assert resolve_model(str(local), "none") == local
    assert resolve_model(str(local), "4bit").name.endswith("-q4")
