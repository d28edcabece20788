"""A guided-diffusion sampling script body runs against the compat module with only its imports changed."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from benchmark.compat.guided_diffusion.resample import create_named_schedule_sampler
from benchmark.compat.guided_diffusion.script_util import create_gaussian_diffusion
from benchmark.errors import InputError
from benchmark.models import NoisyClassifier, UNet
from benchmark.models.config import ClassifierConfig, UNetConfig


def _models() -> tuple[UNet, NoisyClassifier]:
    torch.manual_seed(0)
    model = UNet(UNetConfig(image_size=8, model_channels=32, channel_mult=(1, 2), num_res_blocks=1,
                            attention_resolutions=(4,), num_heads=2, num_head_channels=None, num_classes=10))
    classifier = NoisyClassifier(ClassifierConfig(image_size=8, num_classes=10, model_channels=32, channel_mult=(1, 2),
                                                  num_res_blocks=1, attention_resolutions=(4,), num_head_channels=32))
    return model.eval(), classifier.eval()


@pytest.mark.parametrize("use_ddim", [False, True])
def test_classifier_sample_script_body(use_ddim: bool):
    """The body of scripts/classifier_sample.py (flags: learn_sigma, timestep_respacing)."""
    model, classifier = _models()
    diffusion = create_gaussian_diffusion(steps=1000, learn_sigma=True, noise_schedule="linear",
                                          timestep_respacing="ddim5" if use_ddim else "5")
    classifier_scale, batch_size, image_size, class_cond, clip_denoised = 1.0, 3, 8, True, True
    seen_t: list[torch.Tensor] = []

    def cond_fn(x, t, y=None):
        assert y is not None
        seen_t.append(t)
        with torch.enable_grad():
            x_in = x.detach().requires_grad_(True)
            logits = classifier(x_in, t)
            log_probs = F.log_softmax(logits, dim=-1)
            selected = log_probs[range(len(logits)), y.view(-1)]
            return torch.autograd.grad(selected.sum(), x_in)[0] * classifier_scale

    def model_fn(x, t, y=None):
        assert y is not None
        return model(x, t, y if class_cond else None)

    model_kwargs = {"y": torch.randint(low=0, high=10, size=(batch_size,))}
    sample_fn = diffusion.p_sample_loop if not use_ddim else diffusion.ddim_sample_loop
    sample = sample_fn(model_fn, (batch_size, 3, image_size, image_size), clip_denoised=clip_denoised,
                       model_kwargs=model_kwargs, cond_fn=cond_fn, device="cpu")
    sample = ((sample + 1) * 127.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    assert sample.shape == (3, 8, 8, 3) and sample.dtype == torch.uint8
    # The classifier saw original-schedule timesteps, largest first.
    expected = [800, 600, 400, 200, 0] if use_ddim else [999, 749, 500, 250, 0]
    assert [int(t[0]) for t in seen_t] == expected


def test_image_train_loop_body():
    """The training step of train_util.py: schedule sampler -> training_losses -> weighted mean."""
    model, _ = _models()
    diffusion = create_gaussian_diffusion(steps=100, learn_sigma=True)
    sampler = create_named_schedule_sampler("loss-second-moment", diffusion)
    batch = torch.rand(2, 3, 8, 8) * 2 - 1
    cond = {"y": torch.tensor([1, 2])}
    t, weights = sampler.sample(batch.shape[0], "cpu")
    losses = diffusion.training_losses(model, batch, t, model_kwargs=cond)
    sampler.update_with_local_losses(t, losses["loss"].detach())
    loss = (losses["loss"] * weights).mean()
    loss.backward()
    assert set(losses) == {"loss", "mse", "vb"} and torch.isfinite(loss)
    with pytest.raises(InputError):
        create_named_schedule_sampler("importance", diffusion)
