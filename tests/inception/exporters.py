"""Writers of the public weight formats, for tests: pytorch-fid/torch-fidelity `.pth` and NVIDIA-style TorchScript.

The TorchScript module follows the key scheme of NVIDIA's `inception-2015-12-05.pt`: `layers.<TF scope>` with
`weight` (OIHW), `beta`, `mean`, `var` (no gamma), mixed_9/mixed_10 flattening their inner scopes with `_`,
and `output.weight` / `output.bias`.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from benchmark.extractors.inception import layout


def export_pth(state_dict: dict[str, torch.Tensor], path: Path, counters: bool = True) -> None:
    """pytorch-fid layout (with BN `num_batches_tracked`, 566 entries) or torch-fidelity's converter (472)."""
    out = dict(state_dict)
    if counters:
        for unit in layout.all_convs():
            out[f"{unit.torch_name}.bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    torch.save(out, path)


class _Leaf(nn.Module):
    def __init__(self, weight: torch.Tensor, beta: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.clone())
        self.beta = nn.Parameter(beta.clone())
        self.register_buffer("mean", mean.clone())
        self.register_buffer("var", var.clone())


class _Node(nn.Module):
    pass


class _Scripted(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = _Node()
        self.output = nn.Linear(layout.POOL_DIM, layout.NUM_CLASSES)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.output(features)


def nvidia_module_path(tf_scope: str) -> list[str]:
    block, _, rest = tf_scope.partition("/")
    if not rest:
        return [block]
    if block in ("mixed_9", "mixed_10"):
        return [block, rest.replace("/", "_")]
    return [block, *rest.split("/")]


def export_torchscript(state_dict: dict[str, torch.Tensor], path: Path, skip: tuple[str, ...] = ()) -> None:
    """Scripted module whose state_dict() carries NVIDIA's key scheme (`skip`: TF scopes to leave out)."""
    root = _Scripted()
    for unit in layout.all_convs():
        if unit.tf_scope in skip:
            continue
        parts = nvidia_module_path(unit.tf_scope)
        parent = root.layers
        for name in parts[:-1]:
            if not hasattr(parent, name):
                parent.add_module(name, _Node())
            parent = getattr(parent, name)
        t = unit.torch_name
        parent.add_module(parts[-1], _Leaf(state_dict[f"{t}.conv.weight"], state_dict[f"{t}.bn.bias"],
                                           state_dict[f"{t}.bn.running_mean"], state_dict[f"{t}.bn.running_var"]))
    with torch.no_grad():
        root.output.weight.copy_(state_dict["fc.weight"])
        root.output.bias.copy_(state_dict["fc.bias"])
    torch.jit.script(root).save(str(path))
