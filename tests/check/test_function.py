"""check_function: finite differences of the learner's own J, black-box diagnosis, and mistake forensics.

The learner-style functions come from tests/learner.py: each planted mistake must get its own verdict and
never a PASS; each correct variant must pass (every registered hidden activation, every layout, batch sizes
1 to 500, 2 to 100 classes).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import learner
from glassnet import check_function
from glassnet.check.forensics import MISTAKES
from glassnet.check.function import UserFunctionError
from glassnet.cli.main import main
from glassnet.core.activations import ACTIVATIONS
from paths import REPO

EXAMPLE = REPO / "examples" / "ng_network.py"


def named(report) -> set[str]:
    """The catalogue mistakes a report names."""
    return {f.code for f in report.findings} & set(MISTAKES)


# ----------------------------------------------------------------------------- planted mistakes
PLANTED_CASES = [(mistake, layout) for mistake in learner.PLANTED for layout in learner.LAYOUTS]


@pytest.mark.parametrize("mistake, layout", PLANTED_CASES, ids=[f"{m}-{l}" for m, l in PLANTED_CASES])
def test_each_planted_mistake_gets_its_verdict_and_never_a_pass(mistake, layout):
    fn, params, args = learner.make(layout, "tanh", "softmax", [mistake])
    report = check_function(fn, params, *args, l2_arg="lam")
    assert not report.passed
    assert named(report) == {learner.PLANTED[mistake]}, str(report)


@pytest.mark.parametrize("mistake", ["input_form", "derivative_left_out", "relu_derivative", "j_missing_1/m"])
def test_mistakes_in_a_sigmoid_network_with_sigmoid_outputs(mistake):
    """Ng's original ex4: sigmoid hidden layer, sigmoid outputs with binary cross-entropy, labels 1..k."""
    fn, params, args = learner.make("ng_flat", "sigmoid", "sigmoid", [mistake], sizes=(8, 6, 5), m=40)
    report = check_function(fn, params, *args, l2_arg="lam")
    assert not report.passed and named(report) == {learner.PLANTED[mistake]}, str(report)


def test_the_derivative_mistake_names_the_activation_and_the_tensor():
    fn, params, args = learner.make("ng_flat", "tanh", "softmax", ["sigmoid_derivative"])
    report = check_function(fn, params, *args, l2_arg="lam")
    [finding] = [f for f in report.findings if f.code == "other_derivative"]
    assert finding.title == "the hidden delta uses sigmoid's derivative in a tanh hidden layer"
    assert finding.evidence.startswith("your Theta1 gradient equals, to ")
    assert float(finding.evidence.split("to ")[1].split(",")[0]) <= 1e-12
    assert "1 - a^2" in finding.fix


def test_the_three_learner_mistakes_are_named_and_each_fix_removes_exactly_its_finding():
    three = ["j_missing_1/m", "l2_j_subtracted", "sigmoid_derivative"]
    codes = {m: learner.PLANTED[m] for m in three}
    for hidden in ("sigmoid", "tanh", "softplus"):
        mistakes = [m for m in three if not (m == "sigmoid_derivative" and hidden == "sigmoid")]
        if hidden == "sigmoid":  # sigmoid's derivative is right there: plant relu's instead
            mistakes.append("relu_derivative")
            codes["relu_derivative"] = "other_derivative"
        fn, params, args = learner.make("ng_flat", hidden, "softmax", mistakes, sizes=(10, 6, 4), m=30)
        report = check_function(fn, params, *args, l2_arg="lam")
        assert named(report) == {codes[m] for m in mistakes}, (hidden, str(report))
        for fixed in mistakes:
            rest = [m for m in mistakes if m != fixed]
            fn, params, args = learner.make("ng_flat", hidden, "softmax", rest, sizes=(10, 6, 4), m=30)
            report = check_function(fn, params, *args, l2_arg="lam")
            assert named(report) == {codes[m] for m in rest}, (hidden, fixed, str(report))
        fn, params, args = learner.make("ng_flat", hidden, "softmax", [], sizes=(10, 6, 4), m=30)
        assert check_function(fn, params, *args, l2_arg="lam").passed


# ----------------------------------------------------------------------------- correct variants
CORRECT = [(layout, act, out, (6, 5, 4), 20) for act in sorted(ACTIVATIONS)
           for layout, out in (("ng_flat", "softmax"), ("wb_dict", "sigmoid"))]
CORRECT += [
    ("ng_list", "tanh", "softmax", (3, 4, 2), 1),
    ("wb_flat", "sigmoid", "softmax", (8, 6, 100), 500),
    ("ng_flat_octave", "softplus", "softmax", (5, 7, 3), 33),
    ("wb_dict", "relu", "softmax", (4, 6, 5, 3), 50),
    ("ng_list", "softplus", "sigmoid", (10, 3, 2), 7),
    ("wb_flat", "tanh", "softmax", (5, 4, 2), 2),
    ("ng_flat", "relu", "softmax", (12, 9, 30), 120),
]


@pytest.mark.parametrize("layout, hidden, output, sizes, m", CORRECT,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}-{'x'.join(map(str, c[3]))}-m{c[4]}" for c in CORRECT])
def test_correct_learner_networks_pass(layout, hidden, output, sizes, m):
    fn, params, args = learner.make(layout, hidden, output, [], sizes=sizes, m=m)
    report = check_function(fn, params, *args, l2_arg="lam")
    assert report.passed, str(report)
    assert report.layout is not None and report.layout.sizes == tuple(sizes)


def test_labels_from_zero_and_no_l2_arg_pass_too():
    fn, params, args = learner.make("wb_dict", "tanh", "softmax", [], labels_from=0)
    report = check_function(fn, params, *args)
    assert report.passed and report.at_zero_l2 is None, str(report)


# ----------------------------------------------------------------------------- black boxes (no MLP)
def _quadratic(scale_j=1.0, scale_g=1.0, sign=1.0):
    """J = (1/2m) ||X w - t||^2 for a dict {"w": (n,)}, with factors planted on J or on the gradient."""
    def fn(params, X, t):
        m = X.shape[0]
        r = X @ params["w"] - t
        return scale_j * float(r @ r) / (2 * m), {"w": sign * scale_g * X.T @ r / m}
    rng = np.random.default_rng(1)
    X, t = rng.standard_normal((50, 4)), rng.standard_normal(50)
    return fn, {"w": rng.standard_normal(4)}, (X, t)


@pytest.mark.parametrize("kwargs, code", [
    ({"scale_j": 50.0}, "j_missing_1/m"),
    ({"scale_g": 50.0}, "grad_missing_1/m"),
    ({"sign": -1.0}, "sign"),
    ({"scale_j": 2.0}, "half"),
    ({"scale_g": 3.0}, "scale"),
])
def test_black_box_ratio_findings(kwargs, code):
    fn, params, args = _quadratic(**kwargs)
    report = check_function(fn, params, *args)
    assert not report.passed and [f.code for f in report.findings] == [code], str(report)
    if code == "j_missing_1/m":
        assert report.findings[0].title == "ratio 50 = m: your J lacks the 1/m that your gradient has"


def test_black_box_correct_function_passes_and_n_samples_overrides_m():
    fn, params, args = _quadratic()
    assert check_function(fn, params, *args).passed
    fn, params, args = _quadratic(scale_j=7.0)
    report = check_function(fn, params, *args, n_samples=7)
    assert report.findings[0].title.startswith("ratio 7 = m")


@pytest.mark.parametrize("variant, codes", [
    ("subtracted", {"l2_j_subtracted"}),
    ("j_no_m", {"l2_j_scale"}),
    ("grad_absent", {"l2_grad_absent"}),
    ("right", set()),
])
def test_black_box_l2_read_from_lambda(variant, codes):
    """No MLP layout: the L2 term of J and of the gradient are still read from lambda vs 0."""
    def fn(params, X, t, lam=0.0):
        m = X.shape[0]
        w = params["w"]
        r = X @ w - t
        reg = lam * float(w @ w) / (2 * m)
        J = float(r @ r) / (2 * m) + {"subtracted": -reg, "j_no_m": reg * m}.get(variant, reg)
        g = X.T @ r / m + (0 if variant == "grad_absent" else lam * w / m)
        return J, {"w": g}
    _, params, args = _quadratic()
    report = check_function(fn, params, *args, lam=0.9, l2_arg="lam")
    assert {f.code for f in report.findings} - {"which"} == codes, str(report)
    assert report.passed == (variant == "right")
    assert report.at_zero_l2 is not None and report.at_zero_l2.passed


def test_a_kink_is_skipped_and_counted_not_failed():
    def fn(params):
        w = params[0]
        return float(np.sum(np.maximum(w, 0))), [(w > 0).astype(float)]
    w = np.array([1e-4, -2e-4, 0.5, -0.7, 3.0])
    report = check_function(fn, [w])
    assert report.passed and report.gradcheck.n_kink_skipped == 2, str(report)


def test_a_wrong_gradient_next_to_a_kink_still_fails_elsewhere():
    def fn(params):
        w = params[0]
        return float(np.sum(np.maximum(w, 0))), [(w > 0).astype(float) * 2]  # planted factor 2
    report = check_function(fn, [np.array([1e-4, 0.5, -0.7, 3.0])])
    assert not report.passed


# ----------------------------------------------------------------------------- structure and errors
def test_a_flat_vector_is_reported_in_pieces_with_shapes():
    fn, params, args = _flat_quadratic()
    report = check_function(fn, params, *args, shapes=[(2, 3), (4,)])
    assert [t.name for t in report.gradcheck.tensors] == ["params[0:6]", "params[6:10]"]
    assert [t.shape for t in report.gradcheck.tensors] == [(2, 3), (4,)]
    with pytest.raises(Exception, match="shapes= adds up to 9 entries, params has 10"):
        check_function(fn, params, *args, shapes=[(2, 3), (3,)])


def _flat_quadratic():
    def fn(theta, A):
        return 0.5 * float(theta @ A @ theta), A @ theta
    rng = np.random.default_rng(0)
    B = rng.standard_normal((10, 10))
    return fn, rng.standard_normal(10), (B + B.T,)


@pytest.mark.parametrize("returned, message", [
    (lambda p: (1.0, [p[0]]), "grads has 1 arrays, params has 2"),
    (lambda p: (1.0, [p[0], p[1].T]), "has shape (3, 2), the parameter has (2, 3): the transpose"),
    (lambda p: (1.0, [p[0], p[1], p[1]]), "grads has 3 arrays, params has 2"),
    (lambda p: (1.0, [np.ones((7, 4)), p[1]]), "one row per sample. A bias gradient is summed over the batch"),
    (lambda p: (1.0, {"a": p[0]}), "params is a list of 2 arrays, but grads is dict"),
    (lambda p: 1.0, "must return (J, grads), it returned float"),
    (lambda p: (np.ones(3), list(p)), "J must be one number"),
    (lambda p: (np.log(0.0), list(p)), "J is -inf at these parameters: a log of 0"),
])
def test_wrong_returns_are_one_line_errors(returned, message):
    params = [np.zeros(4), np.zeros((2, 3))]
    with np.errstate(divide="ignore"), pytest.raises(UserFunctionError) as err:
        check_function(returned, params)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_function_that_raises_is_reported_with_its_own_line():
    def cost(params):
        hidden = params["W"] @ np.ones(3)  # (2, 2) @ (3,): the learner's shape bug
        return float(hidden.sum()), {"W": params["W"]}
    with pytest.raises(UserFunctionError) as err:
        check_function(cost, {"W": np.zeros((2, 2))})
    text = str(err.value)
    assert text.startswith("your function raised ValueError: matmul")
    assert "test_function.py:" in text and "hidden = params[\"W\"] @ np.ones(3)" in text


def test_non_finite_params_are_refused():
    with pytest.raises(Exception, match=r"params\['W'\] holds NaN or inf"):
        check_function(lambda p: (0.0, p), {"W": np.array([np.nan])})


# ----------------------------------------------------------------------------- command line
def _cli(*argv, capsys):
    code = main(["gradcheck", *argv])
    return code, capsys.readouterr()


def test_cli_names_the_three_mistakes_of_the_example_and_passes_the_fix(capsys):
    code, out = _cli("--function", f"{EXAMPLE}:nnCostFunction", "--l2-arg", "lambda_", capsys=capsys)
    assert code == 1
    assert "J lacks the 1/m" in out.out and "the L2 term is subtracted from J" in out.out
    assert "the hidden delta uses sigmoid's derivative in a tanh hidden layer" in out.out
    assert "recognised: an MLP 784-25-10, tanh hidden, softmax output" in out.out
    code, out = _cli("--function", f"{EXAMPLE}:nnCostFunction_fixed", "--l2-arg", "lambda_", capsys=capsys)
    assert code == 0 and out.out.rstrip().endswith("PASSED")


def test_cli_json(capsys):
    code, out = _cli("--function", f"{EXAMPLE}:nnCostFunction", "--l2-arg", "lambda_", "--json", capsys=capsys)
    doc = json.loads(out.out)
    assert code == 1 and doc["passed"] is False
    assert doc["function"]["layout"]["sizes"] == [784, 25, 10]
    assert {d["code"] for d in doc["reports"][0]["diagnosis"]} >= {"j_missing_1/m", "l2_j_subtracted", "other_derivative"}
    assert len(doc["reports"]) == 2  # at lambda and at lambda = 0


@pytest.mark.parametrize("source, argv, message", [
    ("def f(p):\n    return 0.0, p\n", ["f"], "defines no `params`"),
    ("params = [1.0]\n", ["g"], "defines no function 'g'"),
    ("import numpy as np\nparams = {'w': np.ones(2)}\ndef f(p):\n    return 1.0 / 0, p\n", ["f"],
     "your function raised ZeroDivisionError: float division by zero (at "),
    ("import numpy as np\nparams = [np.ones(2), np.ones(3)]\ndef f(p):\n    return 1.0, [p[0]]\n", ["f"],
     "grads has 1 arrays, params has 2"),
    ("import numpy as np\nparams = [np.ones(2)]\nargs = [1]\ndef f(p, a):\n    return 1.0, p\n", ["f"],
     "`args` must be a tuple"),
])
def test_cli_errors_are_one_line_and_exit_2(tmp_path, capsys, source, argv, message):
    path = tmp_path / "user.py"
    path.write_text(source)
    code, out = _cli("--function", f"{path}:{argv[0]}", capsys=capsys)
    lines = out.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], out.err
    if "ZeroDivisionError" in message:
        assert "user.py:4: return 1.0 / 0, p" in lines[0]


def test_cli_refuses_l2_with_module_or_function(capsys):
    code, out = _cli("--module", str(REPO / "examples" / "custom_layer.py"), "--l2", "0.1", capsys=capsys)
    assert code == 2 and "--l2 applies to the network gradcheck builds" in out.err
    code, out = _cli("--l2-arg", "lam", capsys=capsys)
    assert code == 2 and "--l2-arg and --samples go with --function" in out.err


def test_the_example_runs_as_a_script():
    out = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "FAILED: 3 finding(s)" in out.stdout, out.stderr
