"""The framework-free core (issue 25): NumPy and pandas only, no deep-learning framework.

In a fresh process where ``tensorflow``, ``keras``, ``torch`` and ``jax`` cannot
be imported (a ``sys.meta_path`` finder refuses them before anything else is
imported), every VLAP module that is not on the explicit list of front-end
modules below must import, and the public ``VLAP.evaluation.evaluate_predictions``
must compute a whole report on NumPy arrays, equal to scikit-learn's values. A
new module is core unless it is added to :data:`NEEDS_A_FRAMEWORK`, so the
core cannot grow a framework import unnoticed.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import tensorflow_pass_only

tensorflow_pass_only("the core is imported in processes where no framework can be imported")

ROOT = Path(__file__).resolve().parents[1]
BLOCKED = ("tensorflow", "keras", "torch", "jax")

#: The modules that need a framework to import: the Keras front-end and VLAP.torch.
NEEDS_A_FRAMEWORK = {
    "VLAP.inference.decision", "VLAP.inference.predict", "VLAP.inference.predictor",
    "VLAP.losses", "VLAP.losses.classes", "VLAP.losses.combined", "VLAP.losses.functions",
    "VLAP.losses.stateful", "VLAP.metrics", "VLAP.metrics.multilabel",
    "VLAP.models", "VLAP.models.head", "VLAP.models.presets",
    "VLAP.models.image", "VLAP.models.image.classifier", "VLAP.models.image.efficientnet_lite",
    "VLAP.models.image.features", "VLAP.models.image.preprocessing",
    "VLAP.models.text", "VLAP.models.text.checkpoints", "VLAP.models.text.classifier",
    "VLAP.models.text.preprocessor", "VLAP.models.text.embedding", "VLAP.models.text.forward",
    "VLAP.ops.soft",
    "VLAP.torch", "VLAP.torch.dist", "VLAP.torch.hf", "VLAP.torch._compat",
    "VLAP.torch.functional",
    "VLAP.training", "VLAP.training._legacy", "VLAP.training.compile",
    "VLAP.training.guards", "VLAP.training.monitors", "VLAP.training.resume",
    "VLAP.training.run_dir", "VLAP.training.train",
}
#: What the issue names as the core, checked by name as well as by the walk.
CORE = (
    "VLAP.evaluation", "VLAP.evaluation.counts", "VLAP.evaluation.ranking",
    "VLAP.evaluation.binned", "VLAP.evaluation.streaming", "VLAP.evaluation.report",
    "VLAP.inference", "VLAP.inference.rule", "VLAP.inference.tuning",
    "VLAP.ops", "VLAP.ops.core", "VLAP.ops.numpy_ops", "VLAP.ops.registry",
    "VLAP.evaluation.metric_table",
    "VLAP.datasets", "VLAP.experiments.selection", "VLAP.experiments.results",
    "VLAP.experiments.saving",
)

_BLOCKER = f"""
import sys


class _NoFramework:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ImportError(f"{{name}} is blocked: the core must not import it")
        return None


sys.meta_path.insert(0, _NoFramework())
"""


def vlap_modules():
    """Every module of the VLAP package, by walking its folder."""
    names = []
    for path in sorted((ROOT / "VLAP").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def _run(code, *, block=BLOCKED):
    blocker = _BLOCKER.replace(repr(BLOCKED), repr(tuple(block)))
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", blocker + code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_lists_name_real_modules():
    modules = set(vlap_modules())
    assert NEEDS_A_FRAMEWORK <= modules, sorted(NEEDS_A_FRAMEWORK - modules)
    assert set(CORE) <= modules - NEEDS_A_FRAMEWORK


def test_every_core_module_imports_without_a_framework():
    core = [m for m in vlap_modules() if m not in NEEDS_A_FRAMEWORK]
    result = _run(f"""
import importlib, json, traceback
failed = {{}}
for name in {core!r}:
    try:
        importlib.import_module(name)
    except Exception:
        failed[name] = traceback.format_exc(limit=-3)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {BLOCKED!r})
print(json.dumps({{"failed": failed, "loaded": loaded}}))
""")
    assert not result["failed"], "\n".join(f"{k}:\n{v}" for k, v in result["failed"].items())
    assert result["loaded"] == []


def test_a_full_report_on_numpy_arrays_without_a_framework():
    result = _run("""
import json
import numpy as np
import VLAP.evaluation
from VLAP.evaluation import MultilabelEvaluator, evaluate_predictions
from VLAP.inference import DecisionRule, tune_thresholds

rng = np.random.default_rng(0)
y = (rng.random((300, 6)) < 0.3).astype(int)
s = np.clip(0.35 * y + 0.65 * rng.random(y.shape), 0.0, 1.0)
df, table = evaluate_predictions(y, s, label_names=list("abcdef"), per_label=True)
top = evaluate_predictions(y, s, rule=DecisionRule.top_k(2))
tuned = evaluate_predictions(y[150:], s[150:], threshold="tuned", y_val=y[:150],
                             scores_val=s[:150])
ev = MultilabelEvaluator(ranking_bins=64)
ev.update(y, s)
binned = ev.result()
print(json.dumps({"values": df["value"].to_dict(), "rows": len(df), "table": len(table),
                  "top_pred": float(top.loc["mean_predicted_labels", "value"]),
                  "tuned": tuned.attrs["threshold_strategy"],
                  "binned_ap": float(binned.loc["average_precision_macro", "value"]),
                  "has_evaluate": callable(getattr(VLAP.evaluation, "evaluate_predictions")),
                  "loaded": sorted(m for m in sys.modules
                                   if m.split(".")[0] in ("tensorflow", "keras", "torch", "jax"))}))
""")
    import numpy as np
    from sklearn.metrics import (average_precision_score, f1_score, hamming_loss,
                                 label_ranking_average_precision_score, roc_auc_score)

    rng = np.random.default_rng(0)
    y = (rng.random((300, 6)) < 0.3).astype(int)
    s = np.clip(0.35 * y + 0.65 * rng.random(y.shape), 0.0, 1.0)
    values = result["values"]
    assert result["loaded"] == [] and result["rows"] > 30 and result["table"] == 6
    assert values["f1_macro"] == pytest.approx(f1_score(y, s > 0.5, average="macro"), abs=1e-9)
    assert values["f1_micro"] == pytest.approx(f1_score(y, s > 0.5, average="micro"), abs=1e-9)
    assert values["hamming_loss"] == pytest.approx(hamming_loss(y, s > 0.5), abs=1e-9)
    assert values["average_precision_macro"] == pytest.approx(
        average_precision_score(y, s, average="macro"), abs=1e-9)
    assert values["roc_auc_micro"] == pytest.approx(roc_auc_score(y, s, average="micro"),
                                                    abs=1e-9)
    assert values["label_ranking_average_precision"] == pytest.approx(
        label_ranking_average_precision_score(y, s), abs=1e-9)
    assert result["top_pred"] == 2.0 and result["tuned"] == "tuned"
    assert abs(result["binned_ap"] - values["average_precision_macro"]) < 0.05


def test_the_top_level_attribute_path_needs_no_framework():
    # `import VLAP; VLAP.evaluation...` as a user writes it, not only `import VLAP.evaluation`
    result = _run("""
import json
import numpy as np
import VLAP
df = VLAP.evaluation.evaluate_predictions(np.array([[1, 0], [0, 1]]),
                                          np.array([[0.9, 0.2], [0.3, 0.8]]))
rule = VLAP.inference.DecisionRule.top_k(1)
print(json.dumps({"f1": float(df.loc["f1_macro", "value"]), "k": rule.k,
                  "loaded": sorted(m for m in sys.modules
                                   if m.split(".")[0] in ("tensorflow", "keras", "torch", "jax"))}))
""")
    assert result == {"f1": 1.0, "k": 1, "loaded": []}


def test_trainer_metrics_in_a_pytorch_process_import_no_keras():
    pytest.importorskip("torch")
    result = _run("""
import json
import numpy as np
import VLAP.torch.hf as hf

rng = np.random.default_rng(0)
logits = rng.normal(size=(40, 4))
labels = (rng.random((40, 4)) < 0.4).astype(np.float32)
metrics = hf.compute_metrics((logits, labels))
top = hf.metrics_for_trainer(top_k=1)((logits, labels))
print(json.dumps({"f1": metrics["f1_macro"], "top": top["mean_predicted_labels"],
                  "loaded": sorted(m for m in sys.modules
                                   if m.split(".")[0] in ("tensorflow", "keras", "jax"))}))
""", block=("tensorflow", "keras", "jax"))
    assert result["loaded"] == [] and 0.0 <= result["f1"] <= 1.0 and result["top"] == 1.0


def test_the_keras_names_stay_the_same_objects():
    import importlib

    import VLAP
    import VLAP.evaluation as evaluation
    import VLAP.inference as inference

    report, scores, predict, predictor = (importlib.import_module(f"VLAP.{name}") for name in (
        "evaluation.report", "inference.scores", "inference.predict", "inference.predictor"))
    assert evaluation.evaluate is report.evaluate is VLAP.evaluate
    assert evaluation.predict_scores is scores.predict_scores is inference.predict_scores
    assert evaluation.iter_scores is scores.iter_scores
    # importing the module VLAP.inference.predict leaves the package's `predict` the function
    assert inference.predict is predict.predict is VLAP.predict
    assert inference.package_model is predictor.package_model
    assert set(evaluation.__all__) <= set(dir(evaluation))
    assert all(getattr(inference, name) is not None for name in inference.__all__)
