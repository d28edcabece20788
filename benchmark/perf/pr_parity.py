"""Precision / recall of two archives by the paper's own evaluator next to admbench's three arithmetics.

    python -m benchmark.perf.pr_parity REF.npz SAMPLE.npz --guided-diffusion PATH [--extractor NAME]

PATH is a checkout of openai/guided-diffusion; its `evaluations/evaluator.py` (`ManifoldEstimator`, TensorFlow,
plus its own imports `requests` and `tqdm`) runs on the same pool features admbench extracted, so the table
shows the arithmetic alone. On a CPU, `cpu-tf` must equal the reference exactly; the README's table of the spread
between arithmetics was measured with this command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def _reference_precision_recall(checkout: Path, ref: np.ndarray, sample: np.ndarray) -> tuple[float, float]:
    evaluator_file = checkout / "evaluations" / "evaluator.py"
    if not evaluator_file.is_file():
        raise SystemExit(f"{checkout}: no evaluations/evaluator.py (a guided-diffusion checkout is needed)")
    sys.path.insert(0, str(checkout))
    from evaluations.evaluator import ManifoldEstimator  # noqa: PLC0415 - the user's copy of the reference
    import tensorflow.compat.v1 as tf  # noqa: PLC0415 - optional extra

    estimator = ManifoldEstimator(tf.Session())
    radii_ref, radii_sample = estimator.manifold_radii(ref), estimator.manifold_radii(sample)
    precision, recall = estimator.evaluate_pr(ref, radii_ref, sample, radii_sample)
    return float(precision[0]), float(recall[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref", type=Path)
    parser.add_argument("sample", type=Path)
    parser.add_argument("--guided-diffusion", type=Path, required=True, metavar="PATH")
    parser.add_argument("--extractor", default="inception-v3")
    parser.add_argument("--inception", type=Path, default=None, metavar="WEIGHTS")
    args = parser.parse_args(argv)

    from benchmark.evaluation.distances import PRArithmetic  # noqa: PLC0415
    from benchmark.evaluation.extract import extract_features  # noqa: PLC0415
    from benchmark.evaluation.metrics import precision_recall  # noqa: PLC0415
    from benchmark.extractors.base import ExtractorOptions  # noqa: PLC0415
    from benchmark.extractors.registry import build_extractor  # noqa: PLC0415

    extractor = build_extractor(args.extractor, ExtractorOptions(weights_path=args.inception))
    ref = extract_features(args.ref, extractor, 64)[0].pool.astype(np.float32)
    sample = extract_features(args.sample, extractor, 64)[0].pool.astype(np.float32)
    expected = _reference_precision_recall(args.guided_diffusion, ref, sample)
    print(f"{len(ref)} x {len(sample)} pool features ({extractor.info.name}, weights {extractor.info.weights_sha256[:12]})")
    print("| arithmetic | precision | recall |\n|---|---|---|")
    print(f"| paper's evaluator (TensorFlow) | {expected[0]:.4f} | {expected[1]:.4f} |")
    for arithmetic in PRArithmetic:
        got = precision_recall(ref, sample, arithmetic=arithmetic)
        same = " (identical)" if got == expected else ""
        print(f"| admbench {arithmetic.value} | {got[0]:.4f} | {got[1]:.4f}{same} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
