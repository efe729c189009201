"""Each decision rule's rows come from its own best epoch (issue 27, item 1).

On your own data ``vlap run`` keeps one best epoch per rule (``monitor =
["val_f1_macro_tuned", "val_f1_macro"]``): the rows at 0.5 report the epoch
best at 0.5, the tuned rows the epoch best with tuned cuts, and the shipped
(epoch, rule) pair is chosen on validation. To make the two best epochs differ
by construction, the per-epoch validation figures are scripted (the Keras
metric and the tuned score are overwritten before any reader sees them); the
rows, the shipped file and run.json are then checked against the checkpoints
of those epochs, computed independently.
"""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from sklearn.metrics import f1_score

import VLAP
from VLAP.training import RunCheckpoint
from VLAP.training.run_dir import describe_kept
from VLAP.training.monitors import ValidationScores

FIXTURE = Path(__file__).parent / "data" / "own_texts.csv"
AT_05 = [0.10, 0.50, 0.20, 0.20]  # best at 0.5: epoch 2
TUNED = [0.20, 0.30, 0.40, 0.90]  # best with tuned cuts: epoch 4


@pytest.fixture
def scripted(monkeypatch):
    original = ValidationScores.on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        original(self, epoch, logs)
        logs["val_f1_macro"], logs["val_f1_macro_tuned"] = AT_05[epoch], TUNED[epoch]

    monkeypatch.setattr(ValidationScores, "on_epoch_end", on_epoch_end)


def test_checkpoint_keeps_one_best_epoch_per_log_and_waits_for_all():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.stop_training = False
    ckpt = RunCheckpoint(None, "val_f1_macro_tuned", patience=2, also=("val_f1_macro",))
    ckpt.set_model(model)
    ckpt.on_train_begin()
    tuned, at_05 = [0.5, 0.4, 0.4, 0.4, 0.4], [0.1, 0.2, 0.3, 0.3, 0.3]
    for epoch, (t, f) in enumerate(zip(tuned, at_05)):
        model.layers[0].kernel.assign(np.full((2, 1), float(epoch), "float32"))
        ckpt.on_epoch_end(epoch, {"val_f1_macro_tuned": t, "val_f1_macro": f})
        if model.stop_training:
            break
    # the tuned figure stopped improving after epoch 1, the 0.5 one after epoch 3:
    # patience 2 counts from the last improvement of either
    assert ckpt.state["last_epoch"] == 4
    kept = ckpt.kept
    assert kept["epoch"] == 0 and kept["also"]["val_f1_macro"]["epoch"] == 2
    weights = ckpt.best_weights_of
    assert weights["val_f1_macro_tuned"][0][0, 0] == 0.0
    assert weights["val_f1_macro"][0][0, 0] == 2.0
    assert "also kept epoch 3 (best val_f1_macro 0.300)" in describe_kept(kept)


def _logits(path, x):
    model = keras.saving.load_model(path, compile=False)
    return np.asarray(model.predict(x.toarray(), verbose=0), dtype=np.float64)  # TF-IDF: CSR


def test_rows_and_shipped_model_use_each_rules_best_epoch(tmp_path, scripted):
    from VLAP.experiments import load_config, run_experiment
    from VLAP.experiments.prepare import prepare_dataset
    from VLAP.inference import load_predictor
    from VLAP.inference.tuning import choose_epoch_rule, tune_cut_points

    cfg = load_config({"name": "epochs", "losses": ["bce"], "seeds": [0], "epochs": 4,
                       "patience": 2, "plots": False, "dataset": {
                           "kind": "csv", "path": str(FIXTURE), "text_column": "text",
                           "label_column": "labels"}})
    assert cfg["monitor"] == ["val_f1_macro_tuned", "val_f1_macro"] and cfg["tuned_bce"]
    lines = []
    run_dir = run_experiment(cfg, out=tmp_path, log=lines.append)
    train_dir = run_dir / "train" / "own_texts" / "binary_crossentropy" / "seed0"

    # run.json: each row kind's epoch and why
    record, = json.loads((run_dir / "run.json").read_text())["epochs"]
    rows = record["rows"]
    assert rows["at 0.5"]["epoch"] == 2 and rows["at 0.5"]["monitor"] == "val_f1_macro"
    assert rows["at 0.5"]["why"] == "epoch 2: best validation macro-F1 at 0.5 (0.500)"
    assert rows["tuned"]["epoch"] == 4 and rows["tuned"]["monitor"] == "val_f1_macro_tuned"
    assert rows["tuned"]["why"] == \
        "epoch 4: best validation macro-F1 with tuned cuts (out of fold) (0.900)"
    console = "\n".join(lines)
    assert "rows at 0.5: epoch 2: best validation macro-F1 at 0.5 (0.500)" in console
    assert "tuned rows: epoch 4: best validation macro-F1 with tuned cuts" in console

    # the rows, recomputed from the two checkpoints: at 0.5 from epoch 2, tuned from epoch 4
    prep = prepare_dataset(cfg["datasets"][0], None)
    early = train_dir / "checkpoints" / "best-val_f1_macro.keras"
    late = train_dir / "checkpoints" / "best.keras"
    y_test = np.asarray(prep.y_test)
    at_05 = f1_score(y_test, _logits(early, prep.x_test) > 0, average="macro",
                     zero_division=0)
    cuts = tune_cut_points(prep.y_val, _logits(late, prep.x_val))
    tuned = f1_score(y_test, _logits(late, prep.x_test) > cuts, average="macro",
                     zero_division=0)
    import pandas as pd

    res = pd.read_csv(run_dir / "results.csv")
    f1 = res[res.metric == "f1_macro"].set_index("variant")["value"]
    assert f1[f1.index.isna()].iloc[0] == pytest.approx(at_05, abs=5e-7)
    assert f1["tuned"] == pytest.approx(tuned, abs=5e-7)
    assert not np.allclose(_logits(early, prep.x_test), _logits(late, prep.x_test))

    # the shipped pair: chosen on validation between (epoch 2, 0.5) and (epoch 4, tuned)
    pair = choose_epoch_rule(prep.y_val, _logits(early, prep.x_val), _logits(late, prep.x_val))
    entry, = json.loads((run_dir / "models.json").read_text())["models"]
    decision = entry["decision"]
    assert decision["weights"] == pair["weights"]
    assert decision["strategy"] == pair["strategy"]
    assert decision["epoch"] == (4 if pair["weights"] == "tuned" else 2)
    assert record["shipped"]["epoch"] == decision["epoch"]
    shipped_weights = late if pair["weights"] == "tuned" else early
    out = load_predictor(run_dir / entry["file"]).predict(prep.x_test.toarray(), verbose=0)
    np.testing.assert_allclose(out["logits"], _logits(shipped_weights, prep.x_test), atol=1e-5)
    assert entry["test"]["f1_macro"] == pytest.approx(
        f1_score(y_test, np.asarray(out["labels"]), average="macro", zero_division=0),
        abs=5e-7)


def test_choose_epoch_rule_on_one_epoch_is_choose_rule():
    from VLAP.inference.tuning import choose_epoch_rule, choose_rule

    rng = np.random.default_rng(3)
    y = (rng.random((200, 4)) < 0.3).astype(int)
    for shift in (-2.5, 0.0):  # 0.5 predicts too little (tuned wins) / about right
        logits = 2.0 * y + shift + rng.normal(size=y.shape)
        pair = choose_epoch_rule(y, logits, logits.copy())
        assert pair.pop("weights") == ("tuned" if pair["strategy"] == "tuned" else "fixed")
        assert pair == choose_rule(y, logits)


def test_monitor_lists_are_checked():
    from VLAP.experiments import ConfigError, load_config

    x = np.zeros((8, 2), "float32")
    ds = VLAP.createDataset(x, np.zeros((8, 2), "float32"), batch_size=4)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    for bad in ([], ["val_f1_macro", 3], ["loss"]):
        with pytest.raises(ValueError, match="`monitor` must name a validation log"):
            VLAP.train(model, ds, ds, 2, epochs=1, verbose=0, monitor=bad)
    table = {"kind": "csv", "path": str(FIXTURE), "text_column": "text",
             "label_column": "labels"}
    with pytest.raises(ConfigError, match="monitor"):
        load_config({"name": "m", "dataset": table, "monitor": ["val_f1_macro", "val_f1"]})
    assert load_config({"name": "m", "dataset": table,
                        "monitor": "val_f1_macro"})["monitor"] == "val_f1_macro"


def test_paper_configs_report_each_rule_at_its_own_best_epoch():
    """Issue 27: the shipped paper-protocol configs keep one best epoch per rule too, so a
    "BCE + tuned thresholds" row is BCE at its tuned-best epoch, not its 0.5-best one."""
    from VLAP.experiments import load_config
    from VLAP.experiments.config import available_configs

    assert len(available_configs()) >= 7
    for name in available_configs():
        cfg = load_config(name)
        assert list(cfg["monitor"]) == ["val_f1_macro", "val_f1_macro_tuned"], name
