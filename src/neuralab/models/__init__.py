"""Model families, one file each. ``MODELS`` maps the names recipes use to classes."""

from neuralab.models.cnn import CNN
from neuralab.models.mlp import MLP
from neuralab.models.mpnn import MPNN

MODELS: dict[str, type] = {"mlp": MLP, "mpnn": MPNN, "cnn": CNN}

__all__ = ["CNN", "MLP", "MPNN", "MODELS"]
