"""PNG figures of a reproduction (matplotlib, Agg backend): guidance sweeps, precision vs recall, FID at the
two milestones, and sample grids. Inputs are the tables' frames and stored sample archives; nothing is
recomputed."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmark.io.atomic import atomic_write  # noqa: E402
from benchmark.io.npz import iter_image_batches  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    with atomic_write(path) as f:
        f.write(buf.getvalue())
    return path


def _scale_value(text: str) -> float:
    """'-' / en dash (no guidance) -> 0.0, '10.0' -> 10.0."""
    try:
        return float(text)
    except ValueError:
        return 0.0


def metric_label(metric: str, extractor: str) -> str:
    """Axis label: the metric's name, plus the feature extractor when it is not the paper's Inception-v3."""
    return metric if extractor == "inception-v3" else f"{metric} ({extractor} features)"


def guidance_sweep(frame: pd.DataFrame, extractor: str, path: Path) -> Path | None:
    """Guidance scale vs FID and vs IS, one line per model (conditional / unconditional); scale 0 = no guidance."""
    data = frame.dropna(subset=["FID"])
    if data.empty:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    for cond, label in (("\u2717", "unconditional"), ("\u2713", "conditional")):
        part = data[data["Conditional"] == cond]
        if part.empty:
            continue
        x = [_scale_value(s) for s in part["Scale"]]
        order = np.argsort(x)
        xs = np.asarray(x)[order]
        for ax, col in zip(axes, ("FID", "IS")):
            ax.plot(xs, part[col].to_numpy()[order], marker="o", label=label)
            if col == "FID" and part["FID CI low"].notna().all():
                ax.fill_between(xs, part["FID CI low"].to_numpy()[order], part["FID CI high"].to_numpy()[order], alpha=0.2)
    for ax, col in zip(axes, ("FID", "IS")):
        ax.set_xlabel("guidance scale (0 = no guidance)")
        ax.set_ylabel(metric_label(col, extractor))
        ax.set_xscale("symlog", linthresh=1.0)
        ax.legend()
    fig.suptitle("Classifier guidance: scale vs FID and IS")
    return _save(fig, path)


def precision_recall(frame: pd.DataFrame, extractor: str, path: Path) -> Path | None:
    """Precision vs recall across guidance scales, labelled by scale."""
    data = frame.dropna(subset=["Precision", "Recall"])
    if data.empty:
        return None
    fig, ax = plt.subplots(figsize=(4.5, 4))
    for cond, label in (("\u2717", "unconditional"), ("\u2713", "conditional")):
        part = data[data["Conditional"] == cond]
        if part.empty:
            continue
        order = np.argsort([_scale_value(s) for s in part["Scale"]])
        rec, prec = part["Recall"].to_numpy()[order], part["Precision"].to_numpy()[order]
        ax.plot(rec, prec, marker="o", label=label)
        for r, p, s in zip(rec, prec, part["Scale"].to_numpy()[order]):
            ax.annotate(str(s), (r, p), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel(metric_label("recall", extractor))
    ax.set_ylabel(metric_label("precision", extractor))
    ax.legend()
    ax.set_title("Precision vs recall across guidance scales")
    return _save(fig, path)


def milestones(frame: pd.DataFrame, labels: tuple[str, str], extractor: str, path: Path) -> Path | None:
    """Absolute FID at the two milestones for every Table 1 variant."""
    cols = [f"FID {labels[0]} absolute", f"FID {labels[1]} absolute"]
    data = frame.dropna(subset=cols, how="all")
    if data.empty:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for _, row in data.iterrows():
        ax.plot([0, 1], [row[cols[0]], row[cols[1]]], marker="o", label=row["row"])
    ax.set_xticks([0, 1], [f"milestone 1 ({labels[0]})", f"milestone 2 ({labels[1]})"])
    ax.set_ylabel(metric_label("FID", extractor))
    ax.set_title("Table 1 variants: FID at the two milestones")
    ax.legend(fontsize=7)
    return _save(fig, path)


def _grid(images: np.ndarray, columns: int = 8) -> np.ndarray:
    n, h, w, c = images.shape
    rows = -(-n // columns)
    canvas = np.full((rows * (h + 1) + 1, columns * (w + 1) + 1, c), 255, dtype=np.uint8)
    for i, img in enumerate(images):
        r, k = divmod(i, columns)
        canvas[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + k * (w + 1) : 1 + k * (w + 1) + w] = img
    return canvas


def read_first_images(archive: Path, count: int) -> np.ndarray:
    """The first `count` images of a sample archive (streamed; the rest is not read)."""
    batches = list(iter_image_batches(archive, count, 0, count))
    return np.concatenate(batches) if batches else np.zeros((0, 1, 1, 1), np.uint8)


def sample_grids(archives: dict[str, Path], title: str, path: Path, count: int = 64) -> Path | None:
    """One 8x8 grid of the first samples of every variant, side by side in one figure."""
    if not archives:
        return None
    n = len(archives)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (label, archive) in zip(axes.flat, archives.items()):
        grid = _grid(read_first_images(archive, count))
        ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray" if grid.shape[-1] == 1 else None,
                  vmin=0, vmax=255, interpolation="nearest")  # fmt: skip
        ax.set_title(label, fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)
