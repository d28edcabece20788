"""guided_diffusion.dist_util -> benchmark.compat.dist_util (same names)."""

from benchmark.compat.dist_util import dev, load_state_dict, setup_dist, sync_params

__all__ = ["dev", "load_state_dict", "setup_dist", "sync_params"]
