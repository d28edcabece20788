"""From a user's options to a ready evaluation: extractor, feature cache and settings, built in this one place.

`admbench evaluate`, a run's evaluation (runners/evaluate_run.py) and `report compare` all describe what the user
asked for as `EvalOptions`, build an `Evaluator` from it, and evaluate through `benchmark.evaluation.evaluate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmark import paths
from benchmark.errors import InputError
from benchmark.evaluation.bootstrap import BootstrapSettings
from benchmark.evaluation.cache import FeatureCache
from benchmark.evaluation.distances import PRArithmetic
from benchmark.evaluation.evaluate import check_inputs, evaluate
from benchmark.evaluation.result import EvalResult
from benchmark.evaluation.selection import MetricSelection
from benchmark.evaluation.settings import EvalSettings
from benchmark.extractors.base import ExtractorOptions, FeatureExtractor
from benchmark.extractors.registry import build_extractor
from benchmark.io.outputs import probe_writable_directory
from benchmark.progress import Reporter

BOOTSTRAP_SEED = 0
BOOTSTRAP_CONFIDENCE = 0.95


def bootstrap_settings(resamples: int) -> BootstrapSettings | None:
    """`resamples` percentile-bootstrap draws (seed 0, 95%), the same for every command; None for 0."""
    if resamples < 0:
        raise InputError(f"bootstrap resamples must be >= 0, got {resamples}")
    return BootstrapSettings(resamples, BOOTSTRAP_SEED, BOOTSTRAP_CONFIDENCE) if resamples else None


@dataclass(frozen=True)
class EvalOptions:
    """What the user chose for an evaluation: the extractor and how it runs, the cache, the metrics' settings."""

    extractor: str = "inception-v3"
    backend: str = "torch"
    weights_path: Path | None = None
    compile: bool = False
    device: str = "cpu"
    batch_size: int = 64
    cache_dir: Path | None = None  # None: $ADMBENCH_CACHE, else ~/.cache/admbench
    use_cache: bool = True
    recompute_ref_stats: bool = False
    pr_arithmetic: PRArithmetic = PRArithmetic.GPU_TF
    selection: MetricSelection = field(default_factory=MetricSelection)
    bootstrap: BootstrapSettings | None = None

    @property
    def cache_root(self) -> Path:
        return paths.cache_root(self.cache_dir)

    def settings(self) -> EvalSettings:
        return EvalSettings(batch_size=self.batch_size, device=self.device, pr_arithmetic=self.pr_arithmetic,
                            use_stored_ref_stats=not self.recompute_ref_stats)  # fmt: skip


def check_cache_dir(options: EvalOptions) -> None:
    """InputError, before any work, when the feature cache is in use and its directory cannot be written."""
    if options.use_cache:
        probe_writable_directory(options.cache_root)


@dataclass(frozen=True)
class Evaluator:
    """A built extractor with the settings, cache, extra metrics and bootstrap of one set of options."""

    extractor: FeatureExtractor
    settings: EvalSettings
    cache: FeatureCache | None
    selection: MetricSelection
    bootstrap: BootstrapSettings | None

    def check(self, ref: Path, sample: Path) -> None:
        """Every check of `evaluate` that can fail on these inputs, without extracting anything."""
        check_inputs(ref, sample, self.extractor.info, self.settings, self.selection)

    def evaluate(self, ref: Path, sample: Path, reporter: Reporter | None = None,
                 hashes: tuple[str, str] | None = None) -> EvalResult:  # fmt: skip
        """`evaluate` with these settings; `hashes`: (REF, SAMPLE) SHA-256 just computed by the caller."""
        return evaluate(ref, sample, self.extractor, self.settings, self.cache, bootstrap=self.bootstrap,
                        selection=self.selection, reporter=reporter, hashes=hashes)  # fmt: skip

    def evaluate_all(self, ref: Path, samples: Sequence[Path], reporter: Reporter | None = None) -> list[EvalResult]:
        """Each sample against `ref`, in order; every pair is checked before the first is evaluated."""
        if not samples:
            raise InputError("give at least one sample archive to evaluate")
        for sample in samples:
            self.check(ref, sample)
        return [self.evaluate(ref, sample, reporter) for sample in samples]


def build_evaluator(options: EvalOptions) -> Evaluator:
    """Build the extractor the options name (an unknown name or unsupported option is an InputError)."""
    extractor = build_extractor(options.extractor, ExtractorOptions(
        device=options.device, batch_size=options.batch_size, weights_path=options.weights_path,
        cache_dir=options.cache_root, backend=options.backend, compile=options.compile,
    ))  # fmt: skip
    cache = FeatureCache(options.cache_root) if options.use_cache else None
    return Evaluator(extractor, options.settings(), cache, options.selection, options.bootstrap)
