"""Drop-in guided-diffusion API over the native admbench objects: see `benchmark.compat.guided_diffusion`.

Nothing native imports this package; it translates the reference's API onto `benchmark.models` and
`benchmark.diffusion` and is tested for parity with the reference.
"""
