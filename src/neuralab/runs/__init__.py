"""Runs: the one way to write a run directory and to read it back. No torch import here.

- :mod:`~neuralab.runs.store`: folders, checkpoints (safetensors + model.json),
  optimiser state, the history reader;
- :mod:`~neuralab.runs.predictor`: a checkpoint with its preprocessing as a
  :class:`Predictor` (NumPy engine);
- :mod:`~neuralab.runs.writer`: a run directory from a training result;
- :mod:`~neuralab.runs.reader`: a run's settings and data, loaded again;
- :mod:`~neuralab.runs.state`: a run directory moves from one whole state to the
  next (built beside it, swapped in), under a lock while a process writes it.
"""

from neuralab.fileio import atomic_write, read_json, write_json
from neuralab import lazy_exports

# each name loads with its submodule on first use (neuralab.lazy_exports): `predict`
# reads a checkpoint without loading the writer, the metrics and the trainer
__getattr__, __dir__ = lazy_exports(__name__, {
    "predictor": ("Predictor", "load_model", "read_model"),
    "reader": ("RunData", "check_features", "load_data_spec", "load_run_data", "read_config",
               "settings_of"),
    "state": ("MANIFEST", "NewState", "RunLock", "RunLockedError", "WriteInterrupted",
              "later_output", "open_run"),
    "store": ("CHECKPOINT", "MODEL_JSON", "OPTIMIZER_STATE", "load_checkpoint",
              "load_optimizer_state", "new_run_dir", "prepare_run_dir", "read_history",
              "save_checkpoint", "save_optimizer_state", "versions"),
    "writer": ("RunResult", "model_meta", "write_run", "write_scores"),
})

__all__ = [
    "CHECKPOINT", "MANIFEST", "MODEL_JSON", "NewState", "OPTIMIZER_STATE", "Predictor", "RunData",
    "RunLock", "RunLockedError", "RunResult", "WriteInterrupted", "open_run",
    "atomic_write", "check_features", "load_checkpoint", "load_data_spec", "load_model",
    "load_optimizer_state", "later_output", "load_run_data", "model_meta", "new_run_dir", "prepare_run_dir",
    "read_config", "read_history", "read_json", "read_model", "save_checkpoint",
    "save_optimizer_state", "settings_of", "versions", "write_json", "write_run", "write_scores",
]
