"""The paper's evaluator's precision/recall arithmetic, written out in TensorFlow (graph mode, as the evaluator
runs it) as an independent reference for admbench's `cpu-tf` emulation.

The distance block is the reference's definition: both batches cast to fp16, max(|u|^2 - 2 u v^T + |v|^2, 0)
with every op in fp16, the whole block recomputed in fp32 when any value is not finite. Radii are the k-th
smallest distance of each row over all columns (np.partition), and a point is inside a ball when
distance <= radius, blocked by rows and columns exactly as the reference's ManifoldEstimator.
"""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class TFDistanceBlock:
    """One TF1-style session holding the reference's distance graph."""

    def __init__(self) -> None:
        import tensorflow.compat.v1 as tf  # noqa: PLC0415 - optional extra, imported by the tests that need it

        self._graph = tf.Graph()  # graph mode inside this graph only: eager stays on for every other test
        with self._graph.as_default():
            self.u = tf.placeholder(tf.float32, shape=[None, None])
            self.v = tf.placeholder(tf.float32, shape=[None, None])
            d16 = self._distances(tf, tf.cast(self.u, tf.float16), tf.cast(self.v, tf.float16))
            self.fell_back = tf.logical_not(tf.reduce_all(tf.math.is_finite(d16)))
            self.block = tf.cond(self.fell_back, lambda: self._distances(tf, self.u, self.v),
                                 lambda: tf.cast(d16, tf.float32))
            x = tf.placeholder(tf.float32, shape=[None, None])
            self.x = x
            self.row_sums16 = tf.reduce_sum(tf.square(tf.cast(x, tf.float16)), 1)
        self.session = tf.Session(graph=self._graph)

    @staticmethod
    def _distances(tf, u, v):
        norm_u = tf.reshape(tf.reduce_sum(tf.square(u), 1), [-1, 1])
        norm_v = tf.reshape(tf.reduce_sum(tf.square(v), 1), [1, -1])
        return tf.maximum(norm_u - 2 * tf.matmul(u, v, False, True) + norm_v, 0.0)

    def distances(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, bool]:
        block, fell_back = self.session.run([self.block, self.fell_back], {self.u: u, self.v: v})
        return block, bool(fell_back)

    def fp16_row_sums_of_squares(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(self.row_sums16, {self.x: x})

    def radii(self, feats: np.ndarray, k: int, batch: int) -> np.ndarray:
        n = len(feats)
        out = np.zeros(n, np.float32)
        for r0 in range(0, n, batch):
            row = np.concatenate([self.distances(feats[r0 : r0 + batch], feats[c0 : c0 + batch])[0]
                                  for c0 in range(0, n, batch)], axis=1)
            out[r0 : r0 + batch] = np.partition(row, k, axis=1)[:, k]
        return out

    def precision_recall(self, ref: np.ndarray, sample: np.ndarray, k: int = 3, batch: int = 10000):
        ref_radii, sample_radii = self.radii(ref, k, batch), self.radii(sample, k, batch)
        ref_in = np.zeros(len(ref), bool)
        sample_in = np.zeros(len(sample), bool)
        for r0 in range(0, len(ref), batch):
            for c0 in range(0, len(sample), batch):
                d, _ = self.distances(ref[r0 : r0 + batch], sample[c0 : c0 + batch])
                ref_in[r0 : r0 + batch] |= (d <= sample_radii[None, c0 : c0 + batch]).any(axis=1)
                sample_in[c0 : c0 + batch] |= (d <= ref_radii[r0 : r0 + batch, None]).any(axis=0)
        return float(sample_in.mean()), float(ref_in.mean())
