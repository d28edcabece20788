"""The layer table of the 2015-12-05 Inception-v3 graph: 94 conv units, their TF scopes and torchvision names.

Both the PyTorch network and the synthetic test graph are generated from this one table, so the two can never
disagree about a kernel size, a padding mode or a name. Shapes follow the graph's layer table (INCEPTION-v3,
Szegedy et al. 2015, Figure 5-7 blocks; TF scopes `conv` ... `mixed_10`).
"""

from __future__ import annotations

from dataclasses import dataclass

NUM_CLASSES = 1008
POOL_DIM = 2048
SPATIAL_CHANNELS = 7  # sFID keeps the first 7 channels of mixed_6/conv
SPATIAL_SIZE = 17
SPATIAL_DIM = SPATIAL_SIZE * SPATIAL_SIZE * SPATIAL_CHANNELS  # 2023
INPUT_SIZE = 299
BN_EPSILON = 0.001
SPATIAL_SCOPE = "mixed_6/conv"  # = torchvision Mixed_6d.branch1x1, post-ReLU


@dataclass(frozen=True)
class ConvSpec:
    """One conv + batch-norm + ReLU unit. `same` is TF SAME padding (only ever at stride 1), else VALID."""

    tf_scope: str
    torch_name: str
    in_channels: int
    out_channels: int
    kernel: tuple[int, int]
    stride: int = 1
    same: bool = False

    @property
    def padding(self) -> tuple[int, int]:
        """Symmetric PyTorch padding equal to TF SAME at stride 1 (odd kernels), 0 for VALID."""
        return (self.kernel[0] // 2, self.kernel[1] // 2) if self.same else (0, 0)


@dataclass(frozen=True)
class BlockSpec:
    """A mixed block: kind A/B/C/D/E, TF scope, torchvision name, input channels, kind-specific width, pool op."""

    kind: str
    tf_scope: str
    torch_name: str
    in_channels: int
    width: int  # A: pool projection; C: c7; others unused
    pool: str = "avg"  # pool branch of A/C/E blocks: "avg" or "max" (mixed_10 only)


STEM: tuple[ConvSpec, ...] = (
    ConvSpec("conv", "Conv2d_1a_3x3", 3, 32, (3, 3), stride=2),
    ConvSpec("conv_1", "Conv2d_2a_3x3", 32, 32, (3, 3)),
    ConvSpec("conv_2", "Conv2d_2b_3x3", 32, 64, (3, 3), same=True),
    # pool: MaxPool 3x3/2 VALID
    ConvSpec("conv_3", "Conv2d_3b_1x1", 64, 80, (1, 1)),
    ConvSpec("conv_4", "Conv2d_4a_3x3", 80, 192, (3, 3)),
    # pool_1: MaxPool 3x3/2 VALID
)

BLOCKS: tuple[BlockSpec, ...] = (
    BlockSpec("A", "mixed", "Mixed_5b", 192, 32),
    BlockSpec("A", "mixed_1", "Mixed_5c", 256, 64),
    BlockSpec("A", "mixed_2", "Mixed_5d", 288, 64),
    BlockSpec("B", "mixed_3", "Mixed_6a", 288, 0),
    BlockSpec("C", "mixed_4", "Mixed_6b", 768, 128),
    BlockSpec("C", "mixed_5", "Mixed_6c", 768, 160),
    BlockSpec("C", "mixed_6", "Mixed_6d", 768, 160),
    BlockSpec("C", "mixed_7", "Mixed_6e", 768, 192),
    BlockSpec("D", "mixed_8", "Mixed_7a", 768, 0),
    BlockSpec("E", "mixed_9", "Mixed_7b", 1280, 0),
    BlockSpec("E", "mixed_10", "Mixed_7c", 2048, 0, pool="max"),
)


def block_convs(block: BlockSpec) -> tuple[ConvSpec, ...]:
    """The conv units of one mixed block, in graph order (branch order of the block's concat)."""
    t, n, cin, w = block.tf_scope, block.torch_name, block.in_channels, block.width

    def c(scope: str, name: str, ci: int, co: int, k: tuple[int, int], stride: int = 1, same: bool = True) -> ConvSpec:
        return ConvSpec(f"{t}/{scope}", f"{n}.{name}", ci, co, k, stride, same and stride == 1)

    if block.kind == "A":
        return (
            c("conv", "branch1x1", cin, 64, (1, 1)),
            c("tower/conv", "branch5x5_1", cin, 48, (1, 1)),
            c("tower/conv_1", "branch5x5_2", 48, 64, (5, 5)),
            c("tower_1/conv", "branch3x3dbl_1", cin, 64, (1, 1)),
            c("tower_1/conv_1", "branch3x3dbl_2", 64, 96, (3, 3)),
            c("tower_1/conv_2", "branch3x3dbl_3", 96, 96, (3, 3)),
            c("tower_2/conv", "branch_pool", cin, w, (1, 1)),
        )
    if block.kind == "B":
        return (
            c("conv", "branch3x3", cin, 384, (3, 3), stride=2),
            c("tower/conv", "branch3x3dbl_1", cin, 64, (1, 1)),
            c("tower/conv_1", "branch3x3dbl_2", 64, 96, (3, 3)),
            c("tower/conv_2", "branch3x3dbl_3", 96, 96, (3, 3), stride=2),
        )
    if block.kind == "C":
        return (
            c("conv", "branch1x1", cin, 192, (1, 1)),
            c("tower/conv", "branch7x7_1", cin, w, (1, 1)),
            c("tower/conv_1", "branch7x7_2", w, w, (1, 7)),
            c("tower/conv_2", "branch7x7_3", w, 192, (7, 1)),
            c("tower_1/conv", "branch7x7dbl_1", cin, w, (1, 1)),
            c("tower_1/conv_1", "branch7x7dbl_2", w, w, (7, 1)),
            c("tower_1/conv_2", "branch7x7dbl_3", w, w, (1, 7)),
            c("tower_1/conv_3", "branch7x7dbl_4", w, w, (7, 1)),
            c("tower_1/conv_4", "branch7x7dbl_5", w, 192, (1, 7)),
            c("tower_2/conv", "branch_pool", cin, 192, (1, 1)),
        )
    if block.kind == "D":
        return (
            c("tower/conv", "branch3x3_1", cin, 192, (1, 1)),
            c("tower/conv_1", "branch3x3_2", 192, 320, (3, 3), stride=2),
            c("tower_1/conv", "branch7x7x3_1", cin, 192, (1, 1)),
            c("tower_1/conv_1", "branch7x7x3_2", 192, 192, (1, 7)),
            c("tower_1/conv_2", "branch7x7x3_3", 192, 192, (7, 1)),
            c("tower_1/conv_3", "branch7x7x3_4", 192, 192, (3, 3), stride=2),
        )
    if block.kind == "E":
        return (
            c("conv", "branch1x1", cin, 320, (1, 1)),
            c("tower/conv", "branch3x3_1", cin, 384, (1, 1)),
            c("tower/mixed/conv", "branch3x3_2a", 384, 384, (1, 3)),
            c("tower/mixed/conv_1", "branch3x3_2b", 384, 384, (3, 1)),
            c("tower_1/conv", "branch3x3dbl_1", cin, 448, (1, 1)),
            c("tower_1/conv_1", "branch3x3dbl_2", 448, 384, (3, 3)),
            c("tower_1/mixed/conv", "branch3x3dbl_3a", 384, 384, (1, 3)),
            c("tower_1/mixed/conv_1", "branch3x3dbl_3b", 384, 384, (3, 1)),
            c("tower_2/conv", "branch_pool", cin, 192, (1, 1)),
        )
    raise ValueError(f"unknown block kind {block.kind!r}")


def all_convs() -> tuple[ConvSpec, ...]:
    """All 94 conv units in graph order."""
    units = list(STEM)
    for block in BLOCKS:
        units.extend(block_convs(block))
    return tuple(units)


def canonical_shapes() -> dict[str, tuple[int, ...]]:
    """Canonical (torchvision-style) tensor names and shapes: 94 x (conv.weight + 4 BN tensors) + fc = 472 tensors."""
    shapes: dict[str, tuple[int, ...]] = {}
    for u in all_convs():
        shapes[f"{u.torch_name}.conv.weight"] = (u.out_channels, u.in_channels, *u.kernel)
        for leaf in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{u.torch_name}.bn.{leaf}"] = (u.out_channels,)
    shapes["fc.weight"] = (NUM_CLASSES, POOL_DIM)
    shapes["fc.bias"] = (NUM_CLASSES,)
    return shapes
