"""TF-IDF kept sparse until the model needs it (issue 29, item 4).

A prepared TF-IDF dataset holds SciPy CSR splits; each is made dense only where
a model takes it. The published figures depend on the model seeing the same
float32 arrays in the same order as when the splits were densified at
preparation: a run on the sparse splits must give exactly the numbers of a run
on splits made dense up front.
"""

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse

from VLAP._sparse import dense_rows, is_sparse, to_dense

FIXTURE = Path(__file__).parent / "data" / "own_texts.csv"


def _config(**top):
    from VLAP.experiments import load_config

    return load_config({"name": "sparse", "losses": ["sigmoid_f1"], "seeds": [0], "epochs": 3,
                        "patience": 2, "plots": False, "batch_size": 8, **top,
                        "dataset": {"kind": "csv", "path": str(FIXTURE), "text_column": "text",
                                    "label_column": "labels", "features": "tfidf",
                                    "max_features": 60}})


def _prepared(cfg):
    import warnings

    from VLAP.experiments.prepare import prepare_dataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return prepare_dataset(cfg["datasets"][0], None)


def _dense_upfront(prep):
    """The preparation before issue 29: every split densified at once."""
    return dataclasses.replace(prep, **{k: getattr(prep, k).toarray()
                                        for k in ("x_train", "x_val", "x_test")})


def test_prepared_tfidf_splits_stay_sparse_with_the_dense_numbers():
    prep = _prepared(_config())
    for name in ("x_train", "x_val", "x_test"):
        x = getattr(prep, name)
        assert scipy.sparse.issparse(x) and x.format == "csr", name  # not densified early
        assert x.dtype == np.float32 and is_sparse(x)
        assert x.nnz < 0.5 * np.prod(x.shape)
    assert prep.x_train.shape[1] == prep.featurizer.num_features
    dense = to_dense(prep.x_test)
    assert isinstance(dense, np.ndarray) and dense.dtype == np.float32
    assert dense.flags.c_contiguous and np.array_equal(dense, prep.x_test.toarray())


def test_minilm_and_tabular_features_stay_dense():
    from VLAP.experiments import load_config

    cfg = load_config({"dataset": {"kind": "synthetic", "n_samples": 60}})
    prep = _prepared(cfg)
    assert all(isinstance(getattr(prep, k), np.ndarray) for k in ("x_train", "x_val", "x_test"))
    a = np.ones((2, 3), "float32")
    assert to_dense(a) is a and list(dense_rows(a, 1)) == [(0, a)]


def test_create_dataset_makes_the_same_batches_from_a_sparse_matrix():
    from VLAP.data import create_dataset

    rng = np.random.default_rng(0)
    x = rng.random((37, 11)).astype("float32")
    x[x < 0.7] = 0
    y = (rng.random((37, 3)) < 0.5).astype("float32")
    for shuffle in (True, False):
        sparse = create_dataset(scipy.sparse.csr_matrix(x), y, batch_size=5, seed=3,
                                is_training=shuffle)
        dense = create_dataset(x, y, batch_size=5, seed=3, is_training=shuffle)
        for _ in range(2):  # two epochs: the same reshuffles
            for (xs, ys), (xd, yd) in zip(sparse, dense, strict=True):
                assert xs.dtype == xd.dtype and np.array_equal(xs.numpy(), xd.numpy())
                assert np.array_equal(ys.numpy(), yd.numpy())


def test_outputs_densify_block_by_block_with_the_same_batches(monkeypatch):
    import keras

    from VLAP.experiments import runner

    rng = np.random.default_rng(1)
    x = rng.random((45, 9)).astype("float32")
    x[x < 0.6] = 0
    y = (rng.random((45, 4)) < 0.5).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((9,)), keras.layers.Dense(4)])
    dense_y, dense_out = runner._outputs(model, x, y, batch_size=4)
    seen = []
    real = runner.dense_rows
    monkeypatch.setattr(runner, "dense_rows",
                        lambda x, rows: (seen.append(b.shape[0]) or (s, b)
                                         for s, b in real(x, rows)))
    monkeypatch.setattr(runner, "_DENSE_BATCHES", 2)  # blocks of 8 rows: 6 blocks
    sparse_y, sparse_out = runner._outputs(model, scipy.sparse.csr_matrix(x), y, batch_size=4)
    assert seen == [8, 8, 8, 8, 8, 5]  # never the whole split at once
    assert np.array_equal(sparse_y, dense_y) and np.array_equal(sparse_out, dense_out)


def _same_result(a, b):
    assert a.history == b.history and a.epochs_run == b.epochs_run
    assert a.summaries.keys() == b.summaries.keys()
    for key in a.summaries:
        pd.testing.assert_frame_equal(a.summaries[key], b.summaries[key], check_exact=True)
        pd.testing.assert_frame_equal(a.per_label[key], b.per_label[key], check_exact=True)
    pd.testing.assert_frame_equal(a.val_summary, b.val_summary, check_exact=True)
    for key in a.predicted_counts:
        assert np.array_equal(a.predicted_counts[key], b.predicted_counts[key])


def test_a_run_on_sparse_splits_equals_a_run_on_splits_densified_up_front():
    from VLAP.experiments import runner

    cfg = _config()
    prep = _prepared(cfg)
    dense = _dense_upfront(prep)
    runs = [runner.train_and_evaluate(p, cfg, "binary_crossentropy", 0, tune_thresholds=True,
                                      keep_model=True) for p in (prep, dense)]
    _same_result(*runs)
    assert runs[0].shipped == runs[1].shipped
    weights = [r.model.get_weights() for r in runs]
    assert all(np.array_equal(a, b) for a, b in zip(*weights))
    assert is_sparse(prep.x_test)  # training left the prepared splits sparse


def test_dual_head_on_sparse_splits_equals_densified_up_front():
    from VLAP.experiments import study

    cfg = _config()
    prep = _prepared(cfg)
    runs = [study.train_dual_head(p, cfg, 0, {}) for p in (prep, _dense_upfront(prep))]
    assert runs[0].history == runs[1].history
    for key in runs[0].summaries:
        pd.testing.assert_frame_equal(runs[0].summaries[key], runs[1].summaries[key],
                                      check_exact=True)


def test_saved_model_scores_and_predicts_sparse_features_as_dense(tmp_path):
    import json

    import VLAP
    from VLAP.experiments import run_experiment
    from VLAP.inference import load_predictor

    cfg = _config(save_models=True)
    run_dir = run_experiment(cfg, out=tmp_path, log=lambda *_: None)
    (entry,) = json.loads((run_dir / "models.json").read_text())["models"]
    predictor = load_predictor(run_dir / entry["file"])
    prep = _prepared(cfg)
    sparse = VLAP.predict(predictor, prep.x_test, logits=True)
    dense = VLAP.predict(predictor, prep.x_test.toarray(), logits=True)
    pd.testing.assert_frame_equal(sparse, dense, check_exact=True)
    report = VLAP.evaluate(predictor, (prep.x_test, prep.y_test))
    assert report.loc["f1_macro", "value"] == pytest.approx(entry["test"]["f1_macro"], abs=1e-6)
    pd.testing.assert_frame_equal(
        report, VLAP.evaluate(predictor, (prep.x_test.toarray(), prep.y_test)), check_exact=True)
