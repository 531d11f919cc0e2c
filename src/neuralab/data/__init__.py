"""Data: seeded 2-D toys, the user's CSV and NPZ files, splits, and a registry of names."""

from neuralab.data.files import load_csv, load_file, load_npz
from neuralab.data.registry import REGISTRY, Dataset, load, names
from neuralab.data.splits import train_test_split
from neuralab.data.toys import circles, gaussian, moons, spiral, xor

__all__ = [
    "REGISTRY",
    "Dataset",
    "circles",
    "gaussian",
    "load",
    "load_csv",
    "load_file",
    "load_npz",
    "moons",
    "names",
    "spiral",
    "train_test_split",
    "xor",
]
