"""TF-exact Inception-v3 (2015-12-05 `classify_image_graph_def.pb`), the network behind every ADM metric.

Public API: NAME, SUMMARY, build(options), InceptionV3, load_inception_weights(path), write_test_graph(path, seed).
"""

from __future__ import annotations

from benchmark.extractors.inception.extractor import NAME, SUMMARY, build
from benchmark.extractors.inception.network import InceptionV3
from benchmark.extractors.inception.testgraph import write_test_graph
from benchmark.extractors.inception.weights import WeightsSource, convert_weights, load_inception_weights

__all__ = ["NAME", "SUMMARY", "build", "InceptionV3", "WeightsSource", "convert_weights", "load_inception_weights",
           "write_test_graph"]
