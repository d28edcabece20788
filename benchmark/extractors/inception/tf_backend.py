"""Run the Inception GraphDef itself with TensorFlow, the way guided-diffusion's evaluator does.

tensorflow.compat.v1 session; a float32 NHWC batch (values 0..255) is fed in place of `ExpandDims:0`; the
batch-dimension static-shape fix is applied to every op output; pool = `pool_3:0` reshaped to [N, 2048];
spatial = `mixed_6/conv:0`[..., :7] flattened (h, w, c); IS logits = pool @ the second input of
`softmax/logits/MatMul` (no bias). TensorFlow is imported lazily (optional extra `admbench[tf]`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import InputError
from benchmark.extractors.inception import layout


def import_tensorflow() -> Any:
    """The TensorFlow module, or InputError telling how to install it."""
    try:
        import tensorflow as tf  # noqa: PLC0415
    except ImportError as exc:
        raise InputError("the TensorFlow backend needs TensorFlow: install the tf extra: pip install 'admbench[tf]'") \
            from exc
    return tf


def _update_shapes(tf: Any, graph: Any) -> None:
    # The 2015 graph's static shapes start with batch 1 (ExpandDims of one decoded JPEG); let the batch vary.
    for op in graph.get_operations():
        for out in op.outputs:
            shape = out.get_shape()
            if shape.rank is None:
                continue
            dims = [None if (j == 0 and s == 1) else s for j, s in enumerate(shape.as_list())]
            try:
                out.__dict__["_shape_val"] = tf.TensorShape(dims)
            except (AttributeError, TypeError):  # tensors without a writable __dict__: shapes are inferred anyway
                return


class TFInceptionGraph:
    """A TF session over `classify_image_graph_def.pb` (or a synthetic graph with its structure)."""

    def __init__(self, graph_path: str | Path, device: str = "cpu") -> None:
        tf = import_tensorflow()
        v1 = tf.compat.v1
        graph_def = v1.GraphDef()
        try:
            graph_def.ParseFromString(Path(graph_path).read_bytes())
        except Exception as exc:
            raise InputError(f"TensorFlow cannot parse the GraphDef: {exc}", graph_path) from exc
        self._graph = tf.Graph()
        tf_device = "/cpu:0" if device == "cpu" else "/gpu:0"
        with self._graph.as_default(), tf.device(tf_device):
            self._input = v1.placeholder(tf.float32, shape=[None, None, None, 3], name="images")
            try:
                pool3, spatial, matmul = tf.import_graph_def(
                    graph_def,
                    input_map={"ExpandDims:0": self._input},
                    return_elements=["pool_3:0", f"{layout.SPATIAL_SCOPE}:0", "softmax/logits/MatMul"],
                    name="inception",
                )
            except (ValueError, KeyError, tf.errors.OpError) as exc:
                raise InputError(f"TensorFlow cannot import the graph: {' '.join(str(exc).split())[:300]}",
                                 graph_path) from exc
            _update_shapes(tf, self._graph)
            self._pool = tf.reshape(pool3, [-1, layout.POOL_DIM])
            self._spatial = tf.reshape(spatial[..., : layout.SPATIAL_CHANNELS], [-1, layout.SPATIAL_DIM])
            self._logits = tf.matmul(self._pool, matmul.inputs[1])
        config = v1.ConfigProto(allow_soft_placement=True)
        config.gpu_options.allow_growth = True  # as the reference evaluator: leave GPU memory to others
        self._session = v1.Session(graph=self._graph, config=config)

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """uint8 NHWC RGB batch -> (pool [N, 2048], spatial [N, 2023], logits [N, 1008]), float32."""
        feed = {self._input: images.astype(np.float32)}
        pool, spatial, logits = self._session.run([self._pool, self._spatial, self._logits], feed_dict=feed)
        return pool, spatial, logits

    def close(self) -> None:
        self._session.close()
