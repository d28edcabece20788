"""Datasets: Fashion-MNIST (embedded default), guided-diffusion image folders and image `.npz` files.

Every dataset yields uint8 NHWC images at a fixed resolution plus int64 labels (-1 where unlabelled); open
one by spec with `benchmark.data.registry.open_dataset`.
"""
