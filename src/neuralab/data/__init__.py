"""Data: seeded 2-D toys, scikit-learn's bundled sets, IDX image sets (Fashion-MNIST,
MNIST), the user's CSV and NPZ files, splits, and a registry of names.

The :class:`Dataset` itself lives in :mod:`neuralab.data.dataset`, below the loaders
and the registry, which all build one.
"""

from neuralab.data.dataset import Dataset
from neuralab.data.files import load_csv, load_file, load_npz
from neuralab.data.idx import read_idx, write_idx
from neuralab.data.registry import REGISTRY, describe_all, load, names, sample_batch
from neuralab.data.splits import train_test_split
from neuralab.data.toys import circles, gaussian, moons, spiral, xor

__all__ = [
    "REGISTRY",
    "Dataset",
    "circles",
    "describe_all",
    "gaussian",
    "load",
    "load_csv",
    "load_file",
    "load_npz",
    "moons",
    "names",
    "sample_batch",
    "read_idx",
    "spiral",
    "train_test_split",
    "write_idx",
    "xor",
]
