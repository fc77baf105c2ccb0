"""Model families, one file each. ``MODELS`` maps the names recipes use to classes."""

from neuralab.models.mlp import MLP

MODELS: dict[str, type] = {"mlp": MLP}

__all__ = ["MLP", "MODELS"]
