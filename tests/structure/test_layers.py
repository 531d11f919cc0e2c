"""The package's shape: layers, no circles, torch only in torch_backend (DESIGN.md's layout).

A module imports only modules of its own part or of the parts listed before it in
LAYERS; imports inside functions count, since they couple just the same.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import neuralab

SRC = Path(neuralab.__file__).parent
#: DESIGN.md's layout, lowest first: a part may import the parts before it.
LAYERS = ["cores", "config", "fileio", "nn", "optim", "gradcheck", "data", "memory", "metrics", "plots",
          "notebook",
          "threads", "prefetch", "train_log", "train", "torch_backend", "launch", "runs", "report", "lab",
          "analysis", "explain", "sweep", "playground", "cli", "__main__"]


def part_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "neuralab" and len(parts) > 1 else None


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names
                      if node.module == "neuralab"]
    return found


def modules():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        yield path, ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def test_every_part_of_the_package_has_a_layer():
    parts = {part_of(name) for _, name in modules()} - {None}
    assert parts <= set(LAYERS), sorted(parts - set(LAYERS))


def test_no_import_runs_from_a_lower_layer_to_a_higher_one():
    wrong = []
    for path, name in modules():
        here = part_of(name)
        if here is None:
            continue
        for line, target in imports(path):
            there = part_of(target)
            if there is None or there == here or there not in LAYERS:
                continue
            if LAYERS.index(there) > LAYERS.index(here):
                wrong.append(f"{name}:{line} imports {target}")
    assert not wrong, "\n".join(wrong)


#: modules outside torch_backend that may import torch, each lazily and for a reason:
#: the engine's large float32 products and updates run in torch's BLAS (issue 15)
TORCH_OUTSIDE_BACKEND = {"neuralab.nn.kernels"}


def test_torch_is_imported_only_in_torch_backend():
    wrong = [f"{name}:{line}" for path, name in modules()
             if part_of(name) != "torch_backend" and name not in TORCH_OUTSIDE_BACKEND
             for line, target in imports(path) if target.split(".")[0] == "torch"]
    assert not wrong, wrong


@pytest.mark.parametrize("module", ["neuralab.runs", "neuralab.report", "neuralab.lab",
                                    "neuralab.explain", "neuralab.cli", "neuralab.sweep"])
def test_importing_a_part_does_not_import_torch(module):
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_no_private_name_is_imported_across_modules():
    wrong = []
    for path, name in modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("neuralab"):
                wrong += [f"{name}:{node.lineno} {node.module}.{a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert not wrong, "\n".join(wrong)
