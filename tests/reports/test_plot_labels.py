"""Figure axes name the feature extractor whenever it is not the paper's Inception-v3."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from reports import plots


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    labels: list[list[str]] = []

    def save(fig: plt.Figure, path: Path) -> Path:
        labels.append([ax.get_ylabel() for ax in fig.axes] + [ax.get_xlabel() for ax in fig.axes])
        plt.close(fig)
        return path

    monkeypatch.setattr(plots, "_save", save)
    return labels


def _guidance_frame() -> pd.DataFrame:
    return pd.DataFrame({"Conditional": ["\u2713", "\u2713"], "Scale": ["\u2013", "1.0"], "FID": [20.0, 12.0],
                         "FID CI low": [None, None], "FID CI high": [None, None], "IS": [50.0, 80.0],
                         "Precision": [0.6, 0.7], "Recall": [0.6, 0.5]})


@pytest.mark.parametrize("extractor, suffix", [("fmnist-cnn", " (fmnist-cnn features)"), ("inception-v3", "")])
def test_axis_labels_carry_the_extractor(captured: list[list[str]], tmp_path: Path, extractor: str,
                                         suffix: str) -> None:
    frame = _guidance_frame()
    plots.guidance_sweep(frame, extractor, tmp_path / "g.png")
    plots.precision_recall(frame, extractor, tmp_path / "pr.png")
    milestones = pd.DataFrame({"row": ["a"], "FID 1K absolute": [30.0], "FID 2K absolute": [25.0]})
    plots.milestones(milestones, ("1K", "2K"), extractor, tmp_path / "m.png")
    sweep, pr, ms = captured
    assert sweep[:2] == [f"FID{suffix}", f"IS{suffix}"]
    assert pr[:2] == [f"precision{suffix}", f"recall{suffix}"]
    assert ms[0] == f"FID{suffix}"
