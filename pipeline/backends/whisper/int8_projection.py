"""The decoder's vocabulary projection with int8 weights: a quarter of the memory read per step.

On a CPU, one greedy decoder step of tiny.en reads every decoder weight from memory, and the
(d, V) vocabulary projection is most of it: 80 MB of float32 for one row of logits, ~3-5 ms of
a ~8 ms step on the 2-core x86 machines (the step is memory-bound: the arithmetic is 20 M
multiply-adds). Stored as int8 with one float scale per ``BLOCK_SIZE`` weights of a column
(symmetric, zero point 128), the projection reads 20 MB: onnxruntime's ``MatMulNBits`` (8 bits,
``accuracy_level`` 4: the input row quantized to int8 per block, int8 dot products with the
CPU's integer SIMD, e.g. AVX2 / AVX-512 VNNI on x86, dot-product instructions on ARM) computes
the logits without ever widening the weights back to float32. onnxruntime is already a
dependency (Silero VAD runs on it); the model is one node built in memory.

The int8 logits are off by up to ~0.4 (on tiny.en's decoder states, half the input's and half
the weights' rounding), and the two best tokens are closer than that in ~2 % of greedy steps:
left as they are, 0.5 % of the steps chose another token, and on the synthetic dictation
(1,589 words) the offline pass lost 40 words. So the ``RESCORED`` best columns of each row are
computed again in float32 from the embedding the engine keeps anyway (16 dot products): the
best token is then the float32 one whenever it is among the int8 top 16 (it was the int8 top 4
in every step measured), and its log-probability the float32 one up to the rest's rounding.
Only columns below ``choosable`` are rescored (the timestamp tokens after them are never picked
by a search without timestamps).
"""

from __future__ import annotations

import numpy as np

BLOCK_SIZE = 32  # weights of a column sharing one scale
RESCORED = 16  # best int8 columns of each row computed again in float32
_ZERO_POINT = 128  # MatMulNBits' default for 8 bits: stored = round(w / scale) + 128


def quantize_columns(
    weights: np.ndarray, block_size: int = BLOCK_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """``weights`` (K, N) float32 -> (codes (N, K / block, block) uint8, scales (N, K / block)
    float32): each column's blocks of ``block_size`` rows scaled so their largest |w| is 127."""
    rows, columns = weights.shape
    if rows % block_size:
        raise ValueError(f"{rows} rows are not a multiple of the block size {block_size}")
    blocks = np.ascontiguousarray(weights.T, dtype=np.float32).reshape(columns, -1, block_size)
    scales = np.abs(blocks).max(axis=-1) / 127.0
    scales[scales == 0] = 1.0  # an all-zero block: any scale gives zeros
    codes = np.clip(np.rint(blocks / scales[..., None]), -127, 127) + _ZERO_POINT
    return codes.astype(np.uint8), scales.astype(np.float32)


def dequantized(codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """The float32 (K, N) weights ``codes`` and ``scales`` stand for (tests, error bounds)."""
    values = (codes.astype(np.float32) - _ZERO_POINT) * scales[..., None]
    return np.ascontiguousarray(values.reshape(codes.shape[0], -1).T)


class Int8Projection:
    """``x (R, K) @ embedding.T (K, N)`` from int8 weights (``quantize_columns``), the best
    ``RESCORED`` columns below ``choosable`` of each row in float32 from ``embedding`` (N, K)."""

    def __init__(self, embedding: np.ndarray, choosable: int | None = None) -> None:
        import onnxruntime

        self.out_features, self.in_features = embedding.shape
        self._embedding = embedding  # the float32 rows, kept by reference
        self.choosable = self.out_features if choosable is None else choosable
        if not RESCORED <= self.choosable <= self.out_features:
            raise ValueError(
                f"choosable columns {self.choosable} not in {RESCORED}..{self.out_features}"
            )
        codes, scales = quantize_columns(embedding.T, BLOCK_SIZE)
        model = _matmul_nbits_model(codes, scales, self.in_features, self.out_features, BLOCK_SIZE)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # as the decoder's BLAS (asr.decoder_blas_threads)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # warnings about the in-memory model are noise here
        self._session = onnxruntime.InferenceSession(
            model, options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Logits (R, N) float32 of rows ``x`` (R, K)."""
        rows = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, self.in_features)
        if not len(rows):
            return np.zeros((0, self.out_features), np.float32)
        logits = self._session.run(None, {"x": rows})[0]
        best = np.argpartition(logits[:, : self.choosable], -RESCORED, axis=1)[:, -RESCORED:]
        exact = np.einsum("rkd,rd->rk", self._embedding[best], rows)
        np.put_along_axis(logits, best, exact, axis=1)
        return logits


def _matmul_nbits_model(
    codes: np.ndarray, scales: np.ndarray, k: int, n: int, block_size: int
) -> bytes:
    """A one-node ONNX model, ``y = MatMulNBits(x, codes, scales)``, serialized."""
    from onnx import TensorProto, helper, numpy_helper

    node = helper.make_node(
        "MatMulNBits", ["x", "codes", "scales"], ["y"], domain="com.microsoft",
        K=k, N=n, bits=8, block_size=block_size, accuracy_level=4,
    )  # fmt: skip
    graph = helper.make_graph(
        [node],
        "int8_projection",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["rows", n])],
        [
            numpy_helper.from_array(codes, "codes"),
            numpy_helper.from_array(scales.reshape(-1), "scales"),
        ],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(graph, ir_version=9, opset_imports=opsets).SerializeToString()
