"""admbench: reproducible evaluation and benchmarking for ADM ("Diffusion Models Beat GANs on Image Synthesis")."""

__version__ = "0.1.0"
