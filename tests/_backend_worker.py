"""Run in a subprocess with KERAS_BACKEND set: prints a JSON of loss values,
a short training run per loss, and a save/reload check."""

import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout
import keras  # noqa: E402

from conftest import random_multilabel  # noqa: E402
from VLAP import losses  # noqa: E402

CASES = {
    "sigmoid_f1": dict(beta=5.0, eta=0.3),
    "sigmoid_f1_micro": dict(beta=2.0, average="micro"),
    "unbounded_f1": dict(),
    "binary_crossentropy": dict(),
    "focal": dict(),
    "asymmetric": dict(),
    "fbeta": dict(f_beta=2.0),
    "precision": dict(),
    "recall": dict(),
    "jaccard": dict(),
    "mcc": dict(),
}


def make_loss(case):
    name = "sigmoid_f1" if case.startswith("sigmoid_f1") else case
    return losses.get(name, **CASES[case])


def main():
    y, u = random_multilabel(n=48, num_labels=5, seed=123)
    out = {"backend": keras.config.backend(), "values": {}, "train": {}}
    for case in CASES:
        out["values"][case] = float(keras.ops.convert_to_numpy(make_loss(case)(y, u)))

    # a tiny model, a few steps with each paper loss
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    w = rng.normal(size=(6, 4)).astype("float32")
    yy = (x @ w > 0.3).astype("float32")
    for name in losses.PAPER_LOSSES:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4)])
        beta = {"beta": 3.0} if name == "sigmoid_f1" else {}
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss=losses.get(name, **beta))
        hist = model.fit(x, yy, batch_size=64, epochs=15, verbose=0).history["loss"]
        out["train"][name] = [float(hist[0]), float(hist[-1])]

    # save / reload with a VLAP loss
    model.compile(optimizer="adam", loss=losses.SigmoidF1(beta=4.0, eta=0.5, average="micro"))
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.keras")
        model.save(path)
        again = keras.saving.load_model(path)
    out["reload_loss_config"] = again.loss.get_config()
    out["reload_same_predictions"] = bool(np.allclose(model.predict(x, verbose=0),
                                                      again.predict(x, verbose=0)))
    print("VLAP-RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
