"""neuralab explain: the backward pass step by step, and a run's explanations in its report."""

import base64
import json

import numpy as np
import pytest

from neuralab.cli import main


def test_backprop_prints_the_slides_names_and_agrees_with_autograd(cli):
    code, out, err = cli("explain", "--backprop", "--samples", "4")
    assert code == 0, err
    for name in ("scores", "probs", "dscores", "dW2", "db2", "dhidden1", "mask1", "dz1", "dW1", "db1"):
        assert f"│ {name} " in out
    assert "all 14 intermediates agree with torch autograd" in out
    assert "DIFFERS" not in out


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "leaky_relu"])
def test_backprop_for_deeper_nets_and_other_activations(cli, activation):
    code, out, _ = cli("explain", "--backprop", "--hidden", "8", "--hidden", "5",
                       "--activation", activation)
    assert code == 0
    assert "│ dhidden2 " in out and "│ dz2 " in out
    assert "│ mask" not in out  # only a ReLU has a mask
    assert "agree with torch autograd" in out


@pytest.mark.slow
def test_explain_a_run_writes_figures_json_and_report(spiral_run_copy, cli):
    run = spiral_run_copy
    code, out, err = cli("explain", run, "--index", "3")
    assert code == 0, err
    assert "row 3 of the test split" in out and "completeness gap" in out
    figures = sorted(p.name for p in (run / "figures").glob("explain_*.png"))
    assert figures == ["explain_attributions.png", "explain_gradient_norms.png",
                       "explain_hidden_first.png", "explain_hidden_last.png", "explain_layers.png",
                       "explain_partial_dependence.png", "explain_surface.png"]
    info = json.loads((run / "explain.json").read_text())
    ig = np.array(info["attributions"]["integrated gradients"])
    assert abs(info["integrated_gradients_completeness_gap"]) < 0.01
    assert ig.shape == (2,)
    page = (run / "report.html").read_text()
    assert "Explain" in page
    for name in figures:
        data = base64.b64encode((run / "figures" / name).read_bytes()).decode()
        assert data in page


@pytest.mark.slow
def test_explain_a_point_and_a_class(spiral_run_copy, cli):
    code, out, err = cli("explain", spiral_run_copy, "--point", "0.3,-0.5", "--class", "2")
    assert code == 0, err
    assert "input: the given point" in out and "explaining class 2" in out


@pytest.mark.slow
def test_explain_a_linear_image_model_draws_class_weights(tmp_path, cli):
    assert main(["train", "--dataset", "digits", "--model", "linear", "--iterations", "100",
                 "--lr", "0.1", "--test-fraction", "0.2", "--quiet", "--out", str(tmp_path / "d")]) == 0
    code, out, err = cli("explain", tmp_path / "d")
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
def test_explain_errors(spiral_run, cli, args, fragment):
    code, _, err = cli("explain", spiral_run.run_dir, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and fragment in err, err


def test_explain_needs_a_run(cli):
    code, _, err = cli("explain")
    assert code == 2 and "give a RUN_DIR" in err
