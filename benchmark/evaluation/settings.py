"""The settings of one evaluation: everything that changes its numbers or its cost."""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.evaluation.distances import PRArithmetic


@dataclass(frozen=True)
class EvalSettings:
    """Everything that changes an evaluation's numbers or its cost."""

    batch_size: int = 64
    device: str = "cpu"
    k: int = 3
    is_split_size: int = 5000
    pr_block_size: int = 10000
    pr_arithmetic: PRArithmetic = PRArithmetic.GPU_TF
    use_stored_ref_stats: bool = True

    def to_dict(self) -> dict[str, object]:
        return {
            "batch_size": self.batch_size,
            "device": self.device,
            "k": self.k,
            "is_split_size": self.is_split_size,
            "pr_block_size": self.pr_block_size,
            "pr_arithmetic": self.pr_arithmetic.value,
            "use_stored_ref_stats": self.use_stored_ref_stats,
        }
