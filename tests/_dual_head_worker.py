"""Dual-head training check, run in a subprocess with KERAS_BACKEND set (see
test_dual_head.py). Usage: ``python tests/_dual_head_worker.py OUT_DIR``; prints one
line ``VLAP-RESULT <json>``."""

import json
import os
import sys

import numpy as np

# the checkout this file belongs to, whatever copy of VLAP is installed
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import keras  # noqa: E402

import VLAP  # noqa: E402


def main(out_dir):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x @ rng.normal(size=(6, 3)).astype("float32") > 0.5).astype("float32")
    train_ds = VLAP.data.create_dataset(x, y, batch_size=16, seed=0, is_training=True)
    val_ds = VLAP.data.create_dataset(x, y, batch_size=32, is_training=False)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                              VLAP.models.DualHeadLogits(3, name="logits")])
    model, history = VLAP.train(model, train_ds, val_ds, 3, loss="dual_head",
                                loss_kwargs={"weight": 0.3, "surrogate_kwargs": {"beta": 1.0}},
                                epochs=2, learning_rate=0.01, patience=None, seed=0,
                                verbose=0)
    # the threshold-free monitors read the decision head (tuned F1) and the score head (mAP)
    _, monitored = VLAP.train(keras.models.clone_model(model), train_ds, val_ds, 3,
                              loss="dual_head", epochs=1, seed=0, verbose=0, monitor="val_map")
    path = os.path.join(out_dir, f"dual-{keras.config.backend()}.keras")
    model.save(path)
    again = keras.saving.load_model(path)
    a, b = model.predict(x, verbose=0), again.predict(x, verbose=0)
    print("VLAP-RESULT " + json.dumps({
        "logs": sorted(history.history), "shape": list(a.shape),
        "reload_max_diff": float(np.abs(a - b).max()),
        "loss": type(again.loss).__name__,
        "f1_finite": bool(np.isfinite(history.history["val_f1_macro"]).all()),
        "monitored": sorted(k for k in monitored.history if k.startswith("val_"))}))


if __name__ == "__main__":
    main(sys.argv[1])
