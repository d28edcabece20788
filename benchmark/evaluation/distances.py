"""Pairwise squared distances for precision / recall, in the arithmetic of the reference evaluator.

The reference (guided-diffusion `evaluations/evaluator.py`, `DistanceBlock`) casts both feature blocks to fp16
and computes `max(norm_u - 2 * matmul(U, V^T) + norm_v, 0)` with `norm = reduce_sum(square(x), 1)`, every op
in fp16; if any value of the block is not finite, the whole block is recomputed in fp32 (`tf.cond`). Whether a
point lies inside a k-NN ball is decided by these fp16 values, so their exact rounding moves precision and
recall by up to a few hundredths. Three arithmetics:

`CPU_TF`: bit-exact TensorFlow 2.x on x86-64 CPUs (the pip build), established from Eigen's source and by
experiment against TensorFlow 2.21 (tests/evaluation/test_tf_distances.py re-checks it bit for bit):
  * `square` and the element-wise `-`, `+`, `2 *` round each result to fp16 (Eigen's `half` ops go through
    float, which is correctly rounded for these ops since float has more than 2 * 11 + 2 bits).
  * `reduce_sum` over a row is Eigen's `InnerMostDimReducer` with `Packet8h` (eight fp16 lanes; TensorFlow's
    pip build targets AVX, so AVX-512 machines use the same packets): a row longer than 8 * 200 values
    (`LeafSize<half>` = 200) is split in two at the packet boundary at or after its middle, counted in the
    flattened tensor (so rows of a width not divisible by 8 split at row-dependent places), and the halves are
    added in fp16. A leaf accumulates in four fp16 packet accumulators fed with consecutive packets, merges
    them as ((a0 + a1) + a2) + a3, adds the leftover whole packets to that, reduces the eight lanes in float as
    (l0 + l4 + (l2 + l6)) + (l1 + l5 + (l3 + l7)) and rounds to fp16, and finally adds the sequential fp16 sum
    of the leftover scalars.
  * `matmul` converts to float and accumulates each entry in fp32 strictly in k order within k-slices,
    starting each slice from zero, and adds the slices' sums in fp32 before one rounding to fp16. The slices
    were measured, not derived: one slice for widths up to 512, two of 1024 for 2048 (Inception's pool
    features), the same for 64 x 64 up to 10000 x 10000 blocks and 1 to 4 threads. Other widths are refused.
  * `maximum(x, 0)` keeps NaN and maps -inf to 0 (so a product that overflows to +inf can give distance 0
    without the fp32 fallback, exactly as the reference does).
  Sequential fp32 sums are slow to emulate, so the block is computed with a fast GEMM and a rigorous bound on
  how far TensorFlow's fp32 sum can lie from it; an entry is exact whenever the bound cannot change its fp16
  rounding. Callers ask only for the few remaining entries that decide a k-NN radius or a ball membership
  (`DistanceBlock.exact_at`), which are then summed in TensorFlow's order.
  Not established: the fp32 fallback branch's own rounding (taken only when fp16 overflows); it is computed
  in plain fp32 here.

`GPU_TF`: TensorFlow on GPUs, which the paper used, as far as its source establishes it: cuBLAS fp16 GEMMs with
fp32 compute and TensorFlow's GPU reductions of fp16 accumulate in fp32 (`ReduceFunctor<SumReducer<half>>`
uses float as its internal type), each rounded once to fp16; element-wise ops as on CPU. The order of the fp32
sums inside cuBLAS is not published, so this is fp32-accumulate-then-round with torch's order.

`FP32`: exact fp32 distances, no fp16 at all.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import torch


class PRArithmetic(enum.Enum):
    """Distance arithmetic of precision / recall (`--pr-arithmetic`, whose choices keep this order)."""

    GPU_TF = "gpu-tf"  # the default: the paper's numbers
    CPU_TF = "cpu-tf"
    FP32 = "fp32"


_EIGEN_HALF_PACKET = 8
_EIGEN_HALF_ACCUMULATORS = 4
_EIGEN_HALF_LEAF = 200
_FP16_HALF_MAX = 32752.0  # the largest fp16 value whose double is finite in fp16
_FAST_CHUNK = 512  # k-chunk of the fast GEMM whose error bound decides which entries need the exact sum


def tf_cpu_k_slices(dim: int) -> tuple[int, ...]:
    """Lengths of the k-slices TensorFlow's CPU fp16 matmul sums separately (measured; see module docstring)."""
    if dim <= 512:
        return (dim,)
    if dim == 2048:
        return (1024, 1024)
    raise ValueError(
        f"the cpu-tf precision/recall arithmetic is established for feature widths up to 512 and for 2048, "
        f"not {dim}; use --pr-arithmetic gpu-tf or fp32"
    )


#----------------------------------------------------------------------------
# Eigen's fp16 row sums.


def _packet_sum_f32(p: torch.Tensor) -> torch.Tensor:
    """predux<Packet8h>: the eight lanes in float, halves then quarters (AVX's add/extract order), one rounding."""
    t = p.float()
    t = t[:, :4] + t[:, 4:]
    t = t[:, :2] + t[:, 2:]
    return (t[:, 0] + t[:, 1]).half()


def _leaf_sum(x: torch.Tensor) -> torch.Tensor:
    """InnerMostDimReducer's vectorised leaf over the columns of x [n, L] (fp16)."""
    n, length = x.shape
    pk, na = _EIGEN_HALF_PACKET, _EIGEN_HALF_ACCUMULATORS
    unrolled = (length // (pk * na)) * pk * na
    vectorised = (length // pk) * pk
    acc = torch.zeros(n, na, pk, dtype=torch.float16, device=x.device)
    steps = x[:, :unrolled].reshape(n, unrolled // (pk * na), na, pk)
    for s in range(steps.shape[1]):
        acc = acc + steps[:, s]
    packet = acc[:, 0]
    for q in range(1, na):
        packet = packet + acc[:, q]
    for j in range(unrolled, vectorised, pk):
        packet = packet + x[:, j : j + pk]
    scalar = torch.zeros(n, dtype=torch.float16, device=x.device)
    for j in range(vectorised, length):
        scalar = scalar + x[:, j]
    return scalar + _packet_sum_f32(packet)


def _tree_sum(x: torch.Tensor, first: int, base: int, count: int) -> torch.Tensor:
    """Sum of columns [first - base, first - base + count) of x; `first` is the flat index (for the split)."""
    pk = _EIGEN_HALF_PACKET
    if count > pk * _EIGEN_HALF_LEAF:
        split = pk * -(-(first + -(-count // 2)) // pk)
        left = min(split - first, count)
        acc = _tree_sum(x, first, base, left)
        if left < count:
            acc = acc + _tree_sum(x, split, base, count - left)
        return acc
    return _leaf_sum(x[:, first - base : first - base + count])


def tf_cpu_row_sums(x16: torch.Tensor) -> torch.Tensor:
    """`tf.reduce_sum(x, 1)` of an fp16 [n, D] tensor on TensorFlow's CPU kernels, bit for bit."""
    n, dim = x16.shape
    out = torch.empty(n, dtype=torch.float16, device=x16.device)
    if n == 0:
        return out
    rows = torch.arange(n, device=x16.device)
    offsets = (rows * dim) % _EIGEN_HALF_PACKET  # where each row starts relative to a packet boundary
    for off in torch.unique(offsets).tolist():
        sel = rows[offsets == off]
        # Any row with this offset: the split points relative to the row start are the same.
        out[sel] = _tree_sum(x16[sel], int(off), int(off), dim)
    return out


#----------------------------------------------------------------------------
# Distance blocks.


def _tf_max0(d: torch.Tensor) -> torch.Tensor:
    """tf.maximum(d, 0) on CPU: NaN stays NaN (torch.clamp propagates it), -inf becomes 0."""
    return torch.clamp(d, min=0)


def _fp16_distance(nu16: torch.Tensor, nv16: torch.Tensor, prod16: torch.Tensor) -> torch.Tensor:
    """max((nu - 2 p) + nv, 0), each op rounded to fp16 (broadcast nu [M, 1], nv [1, N]).

    `nu - 2 p` is one fused op (computed in float, rounded once: 2 p is exact and float's 24 bits make the
    double rounding harmless) unless 2 p overflows fp16, where TensorFlow's separate product is +inf.
    """
    if prod16.numel() == 0 or float(prod16.abs().max()) <= _FP16_HALF_MAX:
        return _tf_max0(torch.sub(nu16, prod16, alpha=2).add_(nv16))
    return _tf_max0((nu16 - prod16 * 2) + nv16)


def _all_finite(d: torch.Tensor) -> bool:
    """Whether every distance is finite. Distances are >= 0, +inf or NaN (after max(., 0)), and max propagates
    NaN, so the largest one tells, far cheaper than an element-wise test."""
    return d.numel() == 0 or bool(torch.isfinite(d.max()))


def _fp32_distances(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    nu, nv = (u * u).sum(dim=1), (v * v).sum(dim=1)
    return (nu[:, None] - 2.0 * (u @ v.T) + nv[None, :]).clamp_(min=0.0)


def _sequential_dot(ut: torch.Tensor, vt: torch.Tensor, slices: tuple[int, ...]) -> torch.Tensor:
    """Dots of the columns of ut [D, A] and vt [D, A] (fp16 values held in fp32): fp32 sums in k order per slice
    starting from zero, the slices' sums added in order. Products of fp16 values are exact in fp32, so fused
    multiply-adds or not make no difference; each torch op rounds once, on CPU and GPU."""
    prods = ut * vt
    total = None
    k0 = 0
    for length in slices:
        acc = prods[k0].clone()
        for k in range(k0 + 1, k0 + length):
            acc += prods[k]
        total = acc if total is None else total + acc
        k0 += length
    assert total is not None
    return total


@dataclass
class DistanceBlock:
    """Distances of rows u [M, D] to rows v [N, D]: fp16 where the arithmetic's values are fp16, else float32.

    `d` is the arithmetic's value wherever `lo == hi`; elsewhere the exact value lies in [lo, hi] and `d` is
    some value in that interval, until `exact_at` replaces it. Compare with `at_most`, which never rounds.
    """

    d: torch.Tensor
    lo: torch.Tensor
    hi: torch.Tensor
    _u16: torch.Tensor | None = None
    _v16: torch.Tensor | None = None
    _nu16: torch.Tensor | None = None
    _nv16: torch.Tensor | None = None
    _slices: tuple[int, ...] = ()

    def exact_at(self, mask: torch.Tensor) -> None:
        """Make `d` exact (lo == hi == d) at the entries of a boolean mask [M, N]."""
        if self._u16 is None:
            return
        idx = torch.nonzero(mask & (self.lo != self.hi), as_tuple=True)
        if idx[0].numel() == 0:
            return
        assert self._v16 is not None and self._nu16 is not None and self._nv16 is not None
        ut, vt = self._u16.T.float(), self._v16.T.float()
        chunk = max(1, (1 << 24) // ut.shape[0])  # 64 MiB of products at a time
        for c0 in range(0, idx[0].numel(), chunk):
            i, j = idx[0][c0 : c0 + chunk], idx[1][c0 : c0 + chunk]
            prod16 = _sequential_dot(ut[:, i], vt[:, j], self._slices).half()
            exact = _tf_max0((self._nu16[i] - prod16 * 2) + self._nv16[j])
            self.d[i, j] = exact
            self.lo[i, j] = exact
            self.hi[i, j] = exact

    @property
    def exact(self) -> bool:
        return self._u16 is None or bool(torch.equal(self.lo, self.hi))


def at_most(x: torch.Tensor, bound: torch.Tensor) -> torch.Tensor:
    """x <= bound element-wise (broadcasting), exactly: in x's dtype when bound is representable in it (fp16
    comparisons are cheaper), else in float32."""
    if x.dtype != bound.dtype:
        narrowed = bound.to(x.dtype)
        if bool(torch.equal(narrowed.to(bound.dtype), bound)):
            return x <= narrowed
        return x.float() <= bound.float()
    return x <= bound


def _exact_block(d: torch.Tensor) -> DistanceBlock:
    return DistanceBlock(d, d, d)


def distance_block(u: torch.Tensor, v: torch.Tensor, arithmetic: PRArithmetic) -> DistanceBlock:
    """The reference's distance block between rows of u [M, D] and v [N, D] in the given arithmetic."""
    u = u.to(torch.float32)
    v = v.to(torch.float32)
    if arithmetic is PRArithmetic.FP32:
        return _exact_block(_fp32_distances(u, v))
    u16, v16 = u.half(), v.half()
    if arithmetic is PRArithmetic.GPU_TF:
        nu16 = (u16 * u16).float().sum(dim=1).half()
        nv16 = (v16 * v16).float().sum(dim=1).half()
        prod16 = (u16.float() @ v16.float().T).half()
        d16 = _fp16_distance(nu16[:, None], nv16[None, :], prod16)
        if _all_finite(d16):
            return _exact_block(d16)
        return _exact_block(_fp32_distances(u, v))
    return _cpu_tf_block(u, v, u16, v16)


def _cpu_tf_block(u: torch.Tensor, v: torch.Tensor, u16: torch.Tensor, v16: torch.Tensor) -> DistanceBlock:
    dim = u.shape[1]
    slices = tf_cpu_k_slices(dim)
    nu16 = tf_cpu_row_sums(u16 * u16)[:, None]
    nv16 = tf_cpu_row_sums(v16 * v16)[None, :]
    uf, vf = u16.float(), v16.float()
    # A fast GEMM in k-chunks, accumulated in place. Summing n terms in any order errs by at most
    # gamma_n * sum|p| with gamma_n = n u / (1 - n u) (Higham, Accuracy and Stability, Thm 3.1 / Lemma 3.1):
    # TensorFlow's sum (sequential per slice, then the slices) within gamma of (longest slice + slices), ours
    # within gamma of (chunk + chunks); the bound is their sum. The margin 4u |fast| covers the rounding of
    # fast +- bound itself, and D * 2^-126 any underflow.
    chunk = min(dim, _FAST_CHUNK)
    fast = uf[:, :chunk] @ vf[:, :chunk].T
    for k0 in range(chunk, dim, chunk):
        fast.addmm_(uf[:, k0 : k0 + chunk], vf[:, k0 : k0 + chunk].T)
    unit = 2.0**-24
    terms = (max(slices) + len(slices)) + (chunk + -(-dim // chunk))
    gamma = terms * unit / (1 - terms * unit)
    scale = gamma * (1 + gamma) * 1.01
    tiny = dim * 2.0**-126
    if bool((uf >= 0).all()) and bool((vf >= 0).all()):  # sum|p| = the sum itself
        p_lo16 = torch.mul(fast, 1 - scale - 4 * unit).sub_(tiny).half()
        p_hi16 = fast.mul_(1 + scale + 4 * unit).add_(tiny).half()
    else:
        bound = (uf.abs() @ vf.abs().T) * scale + fast.abs() * (4 * unit) + tiny
        p_lo16, p_hi16 = (fast - bound).half(), (fast + bound).half()
    del fast
    # The distance falls as the product grows; d starts as the upper bound (any value in [lo, hi] will do).
    hi = _fp16_distance(nu16, nv16, p_lo16)
    lo = _fp16_distance(nu16, nv16, p_hi16)
    block = DistanceBlock(hi, lo, hi, u16, v16, nu16[:, 0], nv16[0, :], slices)
    # The fp32 fallback is taken when any value is not finite: decide it on exact values.
    if not (_all_finite(lo) and _all_finite(hi)):
        block.exact_at(~(torch.isfinite(lo) & torch.isfinite(hi)))
        if not _all_finite(block.d):
            return _exact_block(_fp32_distances(u, v))
    return block


__all__ = ["PRArithmetic", "DistanceBlock", "at_most", "distance_block", "tf_cpu_row_sums", "tf_cpu_k_slices"]
