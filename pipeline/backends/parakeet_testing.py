"""A tiny randomly initialised parakeet model, for tests and benches that must not download weights.

``tiny_parakeet_config()`` returns a NeMo-style config dict of the shape parakeet-mlx's
``utils.from_config`` accepts (FastConformer encoder + TDT or CTC head). Random weights write
garbage text, but every code path (mel, subsampling, attention, caches, decoding, timestamps,
confidences) is the real one. Nothing here imports mlx.
"""

from __future__ import annotations

from typing import Any

TDT_TARGET = "nemo.collections.asr.models.rnnt_bpe_models.EncDecRNNTBPEModel"
CTC_TARGET = "nemo.collections.asr.models.ctc_bpe_models.EncDecCTCModelBPE"

# SentencePiece-style pieces: "▁" marks a piece that starts a word.
TINY_VOCABULARY: tuple[str, ...] = (
    "▁the", "▁a", "▁to", "▁and", "▁of", "▁in", "▁is", "▁it", "▁we", "▁you",
    "▁he", "▁she", "▁this", "▁that", "▁speech", "▁word", "▁st", "▁re", "▁be", "▁con",
    "s", "ing", "ed", "er", "ly", "t", "e", "a", "n", "o", ".", ",",
)  # fmt: skip

TINY_TDT_DURATIONS: tuple[int, ...] = (0, 1, 2, 3, 4)  # encoder frames a TDT step may skip


def tiny_parakeet_config(
    kind: str = "tdt",
    *,
    n_layers: int = 2,
    d_model: int = 64,
    n_heads: int = 4,
    subsampling_factor: int = 8,
    ff_expansion_factor: int = 2,
    subsampling_conv_channels: int = 32,
    vocabulary: tuple[str, ...] = TINY_VOCABULARY,
) -> dict[str, Any]:
    """A config dict for a small FastConformer with a ``kind`` head: ``"tdt"`` or ``"ctc"``.

    Preprocessing is the real parakeet one (16 kHz, 25 ms window, 10 ms hop, 80 mel bins), so
    one encoder frame is ``subsampling_factor`` × 10 ms (80 ms by default), as in parakeet-tdt.
    The sizes default to a tiny model; parakeet-tdt_ctc-110m's encoder has 17 layers, d_model
    512, 8 heads, ``ff_expansion_factor`` 4 and 256 subsampling channels (random weights of
    that shape cost what the real encoder costs).
    """
    preprocessor = {
        "sample_rate": 16000,
        "normalize": "per_feature",
        "window_size": 0.025,
        "window_stride": 0.01,
        "window": "hann",
        "features": 80,
        "n_fft": 512,
        "dither": 0.0,
    }
    encoder = {
        "feat_in": 80,
        "n_layers": n_layers,
        "d_model": d_model,
        "n_heads": n_heads,
        "ff_expansion_factor": ff_expansion_factor,
        "subsampling_factor": subsampling_factor,
        "self_attention_model": "rel_pos",
        "subsampling": "dw_striding",
        "conv_kernel_size": 9,
        "subsampling_conv_channels": subsampling_conv_channels,
        "pos_emb_max_len": 5000,
    }
    vocab = list(vocabulary)
    if kind == "ctc":
        return {
            "target": CTC_TARGET,
            "preprocessor": preprocessor,
            "encoder": encoder,
            "decoder": {"feat_in": d_model, "num_classes": len(vocab), "vocabulary": vocab},
            "decoding": {"greedy": None},
        }
    if kind != "tdt":
        raise ValueError(f"kind must be 'tdt' or 'ctc', not {kind!r}")
    durations = list(TINY_TDT_DURATIONS)
    return {
        "target": TDT_TARGET,
        "model_defaults": {"tdt_durations": durations},
        "preprocessor": preprocessor,
        "encoder": encoder,
        "decoder": {
            "blank_as_pad": True,
            "vocab_size": len(vocab),
            "prednet": {"pred_hidden": d_model, "pred_rnn_layers": 1},
        },
        "joint": {
            "num_classes": len(vocab),
            "vocabulary": vocab,
            "jointnet": {
                "joint_hidden": d_model,
                "activation": "relu",
                "encoder_hidden": d_model,
                "pred_hidden": d_model,
            },
            "num_extra_outputs": len(durations),
        },
        "decoding": {"model_type": "tdt", "durations": durations, "greedy": {"max_symbols": 4}},
    }
