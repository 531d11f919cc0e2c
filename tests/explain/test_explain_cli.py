"""neuralab explain: the backward pass step by step, and a run's explanations in its report."""

import base64
import json

import numpy as np
import pytest

from neuralab.cli import main


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_backprop_prints_the_slides_names_and_agrees_with_autograd(capsys):
    code, out, err = cli(capsys, "explain", "--backprop", "--samples", "4")
    assert code == 0, err
    for name in ("scores", "probs", "dscores", "dW2", "db2", "dhidden1", "mask1", "dz1", "dW1", "db1"):
        assert f"│ {name} " in out
    assert "all 14 intermediates agree with torch autograd" in out
    assert "DIFFERS" not in out


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "leaky_relu"])
def test_backprop_for_deeper_nets_and_other_activations(capsys, activation):
    code, out, _ = cli(capsys, "explain", "--backprop", "--hidden", "8", "--hidden", "5",
                       "--activation", activation)
    assert code == 0
    assert "│ dhidden2 " in out and "│ dz2 " in out
    assert "│ mask" not in out  # only a ReLU has a mask
    assert "agree with torch autograd" in out


@pytest.fixture(scope="module")
def spiral_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("explain") / "run"
    assert main(["train", "--dataset", "spiral", "--hidden", "32", "--hidden", "16",
                 "--iterations", "800", "--lr", "0.5", "--test-fraction", "0.2", "--quiet",
                 "--out", str(out)]) == 0
    return out


def test_explain_a_run_writes_figures_json_and_report(spiral_run, capsys):
    code, out, err = cli(capsys, "explain", spiral_run, "--index", "3")
    assert code == 0, err
    assert "row 3 of the test split" in out and "completeness gap" in out
    figures = sorted(p.name for p in (spiral_run / "figures").glob("explain_*.png"))
    assert figures == ["explain_attributions.png", "explain_gradient_norms.png",
                       "explain_hidden_first.png", "explain_hidden_last.png", "explain_layers.png",
                       "explain_partial_dependence.png", "explain_surface.png"]
    info = json.loads((spiral_run / "explain.json").read_text())
    ig = np.array(info["attributions"]["integrated gradients"])
    assert abs(info["integrated_gradients_completeness_gap"]) < 0.01
    assert ig.shape == (2,)
    page = (spiral_run / "report.html").read_text()
    assert "Explain" in page
    for name in figures:
        data = base64.b64encode((spiral_run / "figures" / name).read_bytes()).decode()
        assert data in page


def test_explain_a_point_and_a_class(spiral_run, capsys):
    code, out, err = cli(capsys, "explain", spiral_run, "--point", "0.3,-0.5", "--class", "2")
    assert code == 0, err
    assert "input: the given point" in out and "explaining class 2" in out


def test_explain_a_linear_image_model_draws_class_weights(tmp_path, capsys):
    assert main(["train", "--dataset", "digits", "--model", "linear", "--iterations", "100",
                 "--lr", "0.1", "--test-fraction", "0.2", "--quiet", "--out", str(tmp_path / "d")]) == 0
    code, out, err = cli(capsys, "explain", tmp_path / "d")
    assert code == 0, err
    assert "largest weights (raw units)" in out
    assert (tmp_path / "d" / "figures" / "explain_weights.png").is_file()


@pytest.mark.parametrize("args, fragment", [
    (["--index", "9999"], "--index must lie in 0.."),
    (["--class", "purple"], "--class 'purple' is not a class"),
    (["--point", "1,2,3"], "--point needs 2 finite numbers"),
    (["--point", "a,b"], "--point must be comma-separated numbers"),
    (["--split", "val"], "split must be one of train, test"),
    (["--backprop", "--index", "1"], "--backprop prints one training iteration"),
])
def test_explain_errors(spiral_run, capsys, args, fragment):
    code, _, err = cli(capsys, "explain", spiral_run, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and fragment in err, err


def test_explain_needs_a_run(capsys):
    code, _, err = cli(capsys, "explain")
    assert code == 2 and "give a RUN_DIR" in err
