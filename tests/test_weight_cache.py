"""The numpy weight cache and the source-hash memo, on the real embedded tiny.en conversion."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.backends.whisper import weight_cache, weights
from pipeline.models import resolve_model, store
from tests import whisper_audio

cache_dir = whisper_audio.cache_dir


@pytest.fixture(scope="module")
def model_dir(cache_dir) -> Path:
    return resolve_model("", "none")


@pytest.fixture()
def weight_root(tmp_path, monkeypatch) -> Path:
    """A cache root of its own for the weight entries (the converted model stays shared)."""
    root = tmp_path / "cache"
    monkeypatch.setenv(store.CACHE_DIR_ENV, str(root))
    return root


def _forbid_conversion(monkeypatch) -> None:
    def fail(*_args, **_kwargs):
        raise AssertionError("converted again instead of reading the cache")

    monkeypatch.setattr(weights, "convert_numpy_weights", fail)


def test_conversion_is_cached_and_reused_memory_mapped(model_dir, weight_root, monkeypatch):
    fresh = weights.convert_numpy_weights(model_dir)
    first = weights.load_numpy_weights(model_dir)
    entry = weight_cache.entry_dir(model_dir, weights.weights_file(model_dir), "float32")
    assert entry.parent == weight_root / weight_cache.CACHE_SUBDIR
    assert (entry / weight_cache.DATA_FILE).stat().st_size > 100e6  # tiny.en in float32
    _forbid_conversion(monkeypatch)
    second = weights.load_numpy_weights(model_dir)
    assert set(second) == set(fresh) == set(first)
    for name, value in fresh.items():
        assert second[name].dtype == value.dtype and second[name].shape == value.shape
        np.testing.assert_array_equal(second[name], value, err_msg=name)
    projection = second["decoder.token_embedding.weight"]
    assert not projection.flags.writeable  # a read-only view of the mapped file
    assert isinstance(projection.base, np.memmap) or isinstance(projection.base.base, np.memmap)
    assert second["alignment_heads"].dtype == np.int64


def test_changed_source_is_converted_again_and_the_old_entry_removed(
    model_dir, weight_root, tmp_path
):
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    before = weights.load_numpy_weights(copy)
    old_entry = weight_cache.entry_dir(copy, weights.weights_file(copy), "float32")
    assert old_entry.is_dir()
    weights_path = weights.weights_file(copy)
    stat = weights_path.stat()
    os.utime(weights_path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    new_entry = weight_cache.entry_dir(copy, weights.weights_file(copy), "float32")
    assert new_entry != old_entry
    after = weights.load_numpy_weights(copy)
    assert new_entry.is_dir() and not old_entry.exists()
    np.testing.assert_array_equal(after["encoder.conv1.weight"], before["encoder.conv1.weight"])
    # another dtype is an entry of its own beside it
    rounded = weights.load_numpy_weights(copy, "bfloat16")
    assert (
        weight_cache.entry_dir(copy, weights.weights_file(copy), "bfloat16").is_dir()
        and new_entry.is_dir()
    )
    assert not np.array_equal(rounded["encoder.conv1.weight"], after["encoder.conv1.weight"])


def test_truncated_entry_is_converted_again(model_dir, weight_root):
    weights.load_numpy_weights(model_dir)
    entry = weight_cache.entry_dir(model_dir, weights.weights_file(model_dir), "float32")
    data = entry / weight_cache.DATA_FILE
    with data.open("r+b") as file:
        file.truncate(data.stat().st_size // 2)
    assert weight_cache.read_entry(entry) is None and not entry.exists()
    again = weights.load_numpy_weights(model_dir)
    assert weight_cache.read_entry(entry) is not None
    assert again["decoder.token_embedding.weight"].shape == (51864, 384)


def test_unwritable_cache_still_loads(model_dir, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv(store.CACHE_DIR_ENV, str(blocker))
    loaded = weights.load_numpy_weights(model_dir)
    assert loaded["encoder.conv1.weight"].flags.writeable  # converted, not mapped


def test_hash_memo_reads_an_unchanged_source_once(tmp_path, weight_root, monkeypatch):
    source = tmp_path / "model.bin"
    source.write_bytes(b"a" * 4096)
    first = store.content_hash_memo([source], salt="s")
    assert first == store.content_hash([source], salt="s")
    real_hash = store.content_hash
    monkeypatch.setattr(store, "content_hash", lambda *a, **k: pytest.fail("hashed again"))
    assert store.content_hash_memo([source], salt="s") == first
    monkeypatch.setattr(store, "content_hash", real_hash)
    source.write_bytes(b"b" * 4097)  # new content, size and mtime
    changed = store.content_hash_memo([source], salt="s")
    assert changed == store.content_hash([source], salt="s") != first
