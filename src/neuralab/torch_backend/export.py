"""A checkpoint as one file for other tools: ONNX or TorchScript, preprocessing folded in.

:func:`neuralab.runs.export.export_run` reads the run and writes the file; this
module builds it. The exported graph takes raw features, exactly the columns
``neuralab predict`` reads, and returns what the run's Predictor returns:
class probabilities (B, K), or for a regression model the prediction (B,) in
the target's units. In between, in the run's float dtype: the feature inputs
(``x1^2``, ``sin(x1)``, ... of a 2-D point, when the run has them), the
standardisation ``(x - mean) / scale`` stored with the model, the MLP (the
:class:`~neuralab.torch_backend.TorchMLP` twin with the run's weights), then
softmax, or for regression ``u * target_scale + target_mean``.

The class names, the input names, the task, the dtype and neuralab's version
travel with the file (:func:`export_metadata`): in ONNX as the model's
``metadata_props`` (lists as JSON text), in TorchScript as the extra file
``neuralab.json``.

Example (ONNX, with onnxruntime)::

    session = onnxruntime.InferenceSession("runs/spiral/model.onnx")
    probs = session.run(None, {"x": np.array([[0.3, -0.5]])})[0]
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import warnings

import numpy as np
import torch
from torch import nn

from neuralab import NeuralabError, __version__
from neuralab.data.preprocess import FEATURE_FUNCTIONS, Standardizer
from neuralab.data.target import TargetScaler
from neuralab.torch_backend.model import TORCH_DTYPES, TorchMLP, load_lecture_state

#: the graph's input name and its output's, by task
INPUT = "x"
OUTPUTS = {"classification": "probabilities", "regression": "prediction"}
#: TorchScript's extra file that holds the metadata
EXTRA_FILE = "neuralab.json"
#: the ONNX operator set: MatMul/Gemm, Add, Sub, Div, Mul, Sin, the activations and
#: Softmax all have float64 kernels in onnxruntime at this version
OPSET = 17

#: Each feature input as a torch function of a 2-D point's x1 and x2: the engine's own
#: :data:`neuralab.data.preprocess.FEATURE_FUNCTIONS`, with ``torch.sin``.
TORCH_FEATURES = {name: functools.partial(f, sin=torch.sin) for name, f in FEATURE_FUNCTIONS.items()}


class _LeakyReLU(nn.Module):
    """``where(z > 0, z, slope * z)``, the engine's formula, with the slope in the model's dtype.

    ONNX's own LeakyRelu keeps its slope as a float32 attribute (0.01 becomes
    0.0099999998), which would move a float64 model's outputs by about 1e-10.
    """

    def __init__(self, negative_slope: float) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.where(z > 0, z, z * self.negative_slope)


class ExportedModel(nn.Module):
    """Raw features in, class probabilities (or the regression prediction) out.

    ``x -> features(x) -> (. - mean) / scale -> MLP -> softmax``; for regression the
    last step is ``u[:, 0] * target_scale + target_mean``. The same arithmetic, in
    the same order, as :meth:`neuralab.runs.Predictor.predict_proba` (and
    ``predict_values``), so that float64 agrees to rounding.

    Args:
        mlp: the run's TorchMLP, its weights loaded, in the run's dtype.
        scaler: the run's preprocessing (mean, scale, feature inputs).
        target: a regression run's target scaling; None for a classifier.

    Shape:
        Input: (B, d) raw features. Output: (B, K) probabilities, or (B,) predictions.
    """

    def __init__(self, mlp: TorchMLP, scaler: Standardizer, *,
                 target: TargetScaler | None = None) -> None:
        super().__init__()
        self.mlp = mlp
        for i, act in enumerate(mlp.acts):
            if isinstance(act, nn.LeakyReLU):
                mlp.acts[i] = _LeakyReLU(act.negative_slope)
        dtype = mlp.linears[0].weight.dtype
        self.features = scaler.features
        self.standardize = not scaler.is_identity  # as Standardizer.transform: skip 0 and 1
        self.register_buffer("mean", torch.as_tensor(scaler.mean, dtype=dtype))
        self.register_buffer("scale", torch.as_tensor(scaler.scale, dtype=dtype))
        self.target = None if target is None else (float(target.mean), float(target.scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.features is not None:
            x1, x2 = x[:, 0], x[:, 1]
            x = torch.stack([TORCH_FEATURES[name](x1, x2) for name in self.features], dim=1)
        if self.standardize:
            x = (x - self.mean) / self.scale
        u = self.mlp(x)
        if self.target is None:
            return torch.softmax(u, dim=1)
        mean, scale = self.target
        return u[:, 0] * scale + mean


def exported_module(state: dict[str, np.ndarray], meta: dict, scaler: Standardizer) -> ExportedModel:
    """The run's checkpoint (as :func:`neuralab.runs.read_model` gives it) as one torch module."""
    mlp = TorchMLP(meta["sizes"], activation=meta["activation"]).to(
        dtype=TORCH_DTYPES[meta["dtype"]])
    load_lecture_state(mlp, state)
    target = TargetScaler.from_meta(meta) if meta.get("task") == "regression" else None
    # frozen: the file's users get plain outputs, not tensors that track gradients
    return ExportedModel(mlp, scaler, target=target).eval().requires_grad_(False)


def export_metadata(meta: dict) -> dict[str, str]:
    """What travels with an exported model, every value text (lists as JSON)."""
    task = meta.get("task", "classification")
    out = {
        "neuralab_version": __version__,
        "task": task,
        "classes": json.dumps(list(meta.get("classes") or [])),
        "feature_names": json.dumps(list(meta["feature_names"])),
        "input": INPUT,
        "output": OUTPUTS[task],
        "dtype": meta["dtype"],
        "sizes": json.dumps(list(meta["sizes"])),
        "activation": meta["activation"],
    }
    if task == "regression":
        out["target"] = str(meta.get("target") or "y")
    return out


@contextlib.contextmanager
def _quiet_torch():
    """torch 2.13 calls TorchScript and its tracing ONNX exporter deprecated; both still work,
    and the export formats the issue asks for need them, so their warnings are not the user's."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        yield


def _example(meta: dict, scaler: Standardizer) -> torch.Tensor:
    return torch.zeros((2, scaler.n_inputs), dtype=TORCH_DTYPES[meta["dtype"]])


def onnx_bytes(module: ExportedModel, meta: dict, scaler: Standardizer) -> bytes:
    """The module as an ONNX model (any batch size), its metadata in ``metadata_props``."""
    try:
        import onnx
    except ImportError:
        raise NeuralabError("ONNX export needs the onnx package; install it with "
                            "pip install 'neuralab[export]'") from None
    buf = io.BytesIO()
    output = OUTPUTS[meta.get("task", "classification")]
    with _quiet_torch(), torch.no_grad():
        # the tracing exporter: the torch.export-based one needs onnxscript and takes
        # seconds for a graph of a few nodes; both give the same operators here
        torch.onnx.export(module, (_example(meta, scaler),), buf, dynamo=False,
                          input_names=[INPUT], output_names=[output], opset_version=OPSET,
                          dynamic_axes={INPUT: {0: "batch"}, output: {0: "batch"}})
    model = onnx.load_from_string(buf.getvalue())
    onnx.helper.set_model_props(model, export_metadata(meta))
    model.producer_name, model.producer_version = "neuralab", __version__
    model.doc_string = (f"neuralab MLP {' -> '.join(map(str, meta['sizes']))} "
                        f"({meta['activation']}, {meta['dtype']}): raw features {INPUT} in, "
                        f"{output} out, preprocessing included")
    onnx.checker.check_model(model)
    return model.SerializeToString()


def torchscript_bytes(module: ExportedModel, meta: dict, scaler: Standardizer) -> bytes:
    """The module traced to TorchScript, its metadata in the extra file ``neuralab.json``."""
    buf = io.BytesIO()
    with _quiet_torch(), torch.no_grad():
        traced = torch.jit.trace(module, (_example(meta, scaler),))
        torch.jit.save(traced, buf, _extra_files={EXTRA_FILE: json.dumps(export_metadata(meta))})
    return buf.getvalue()


def model_bytes(fmt: str, state: dict[str, np.ndarray], meta: dict,
                scaler: Standardizer) -> bytes:
    """A checkpoint (as :func:`neuralab.runs.read_model` gives it) as the bytes of an
    ``onnx`` or ``torchscript`` file."""
    module = exported_module(state, meta, scaler)
    return {"onnx": onnx_bytes, "torchscript": torchscript_bytes}[fmt](module, meta, scaler)
