"""Data: seeded 2-D toys, scikit-learn's bundled sets, IDX image sets (Fashion-MNIST,
MNIST), the user's CSV and NPZ files, splits, and a registry of names.

The :class:`Dataset` itself lives in :mod:`neuralab.data.dataset`, below the loaders
and the registry, which all build one.
"""

from neuralab import lazy_exports

# each name loads with its submodule on first use (neuralab.lazy_exports)
__getattr__, __dir__ = lazy_exports(__name__, {
    "dataset": ("Dataset",),
    "files": ("load_csv", "load_file", "load_npz"),
    "idx": ("read_idx", "write_idx"),
    "registry": ("REGISTRY", "describe_all", "load", "names", "sample_batch"),
    "splits": ("train_test_split",),
    "toys": ("circles", "gaussian", "moons", "spiral", "xor"),
})

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
