"""The paper's original flow under the `legacy` extra (transformers 4.x + tf-keras).

The README of the paper trains a transformers 4.x ``TFDistilBertForSequenceClassification``
(a tf-keras model) with ``VLAP.train``. These tests build that model from a small
``DistilBertConfig`` and a tokenizer from a locally written vocabulary (no
download) and run the README's lines. They skip, with the reason, where the
extra is not installed (the main environment has transformers v5, which has no
TF classes): run them in a venv made with ``pip install -e ".[legacy,dev]"``,
as ``.ci/legacy.sh`` does.
"""

import math
import sys

import numpy as np
import pandas as pd
import pytest

import VLAP

pytestmark = pytest.mark.legacy

WORDS = ["graph", "neural", "network", "learning", "quantum", "field", "theory",
         "particle", "protein", "cell", "gene", "market", "price", "the", "of",
         "a", "new", "method", "study", "results"]
TOPICS = {"cs": ["graph", "neural", "network", "learning"],
          "physics": ["quantum", "field", "theory", "particle"],
          "bio": ["protein", "cell", "gene"]}


@pytest.fixture
def hf():
    """transformers 4.x TF classes, or a skip saying what is missing."""
    try:
        import tf_keras  # noqa: F401
    except ImportError:
        pytest.skip('tf-keras is not installed: needs the `legacy` extra '
                    '(pip install -e ".[legacy,dev]"; .ci/legacy.sh does it)')
    try:
        import transformers
        from transformers import (DistilBertConfig, DistilBertTokenizerFast,
                                  TFDistilBertForSequenceClassification)
    except ImportError:
        version = sys.modules["transformers"].__version__ if "transformers" in sys.modules else "none"
        pytest.skip(f"transformers {version} has no TFDistilBertForSequenceClassification "
                    "(TF classes were removed in v5): needs the `legacy` extra "
                    "(transformers 4.x)")
    import keras

    if keras.config.backend() != "tensorflow":
        pytest.skip(f"the legacy flow trains on TensorFlow; KERAS_BACKEND is "
                    f"{keras.config.backend()!r}")
    return {"config": DistilBertConfig, "tokenizer": DistilBertTokenizerFast,
            "model": TFDistilBertForSequenceClassification,
            "version": transformers.__version__}


@pytest.fixture
def tokenizer(hf, tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    return hf["tokenizer"](vocab_file=str(vocab), model_max_length=64)


@pytest.fixture
def arxiv():
    """A small arXiv-like DataFrame: texts and label lists (one to three labels)."""
    rng = np.random.default_rng(0)
    texts, labels = [], []
    for _ in range(80):
        labs = [k for k in TOPICS if rng.random() < 0.45] or [str(rng.choice(list(TOPICS)))]
        tokens = [w for k in labs for w in rng.choice(TOPICS[k], 3)]
        tokens += list(rng.choice(WORDS[-7:], rng.integers(1, 6)))
        rng.shuffle(tokens)
        texts.append(" ".join(tokens))
        labels.append(labs)
    return pd.DataFrame({"abstract": texts, "categories": labels})


def small_model(hf, num_labels=3):
    config = hf["config"](vocab_size=200, dim=32, n_layers=1, n_heads=2, hidden_dim=64,
                          num_labels=num_labels, max_position_embeddings=64)
    return hf["model"](config)


def readme_datasets(arxiv, tokenizer):
    """The README's data lines, verbatim but for the DataFrame's name."""
    X_train, X_val, X_test, y_train, y_val, y_test = VLAP.split(
        arxiv["abstract"], arxiv["categories"], [0.6, 0.2, 0.2], r=44)
    X_train_tokens = tokenizer(X_train.to_list(), truncation=True, padding=True)
    X_val_tokens = tokenizer(X_val.to_list(), truncation=True, padding=True)
    y_train_bin, y_val_bin, y_test_bin, label_names = VLAP.binarize(y_train, y_val, y_test)
    num_classes = len(label_names)
    train_ds = VLAP.createDataset(dict(X_train_tokens), y_train_bin.astype(float), is_image=False)
    val_ds = VLAP.createDataset(dict(X_val_tokens), y_val_bin.astype(float), is_image=False)
    return train_ds, val_ds, num_classes


def test_readme_example_trains(hf, tokenizer, arxiv):
    train_ds, val_ds, num_classes = readme_datasets(arxiv, tokenizer)
    assert num_classes == 3
    model = small_model(hf)

    model, history = VLAP.train(model, train_ds, val_ds, num_classes, epochs=3, verbose=0)

    import tf_keras

    assert isinstance(model, tf_keras.Model)
    assert model.config.problem_type == "multi_label_classification"
    h = history.history
    assert {"loss", "val_loss", "val_f1_macro", "val_f1_micro"} <= set(h)
    assert 1 <= len(h["loss"]) <= 3
    assert len(h["val_f1_macro"]) == len(h["loss"])
    for key in ("loss", "val_loss"):
        assert all(math.isfinite(v) for v in h[key]), h[key]
    # sigmoidF1 is 1 - soft F1: in [0, 1]
    assert all(0.0 <= v <= 1.0 for v in h["loss"])
    assert all(0.0 <= v <= 1.0 for v in h["val_f1_macro"])


def test_loss_and_f1_are_computed_on_logits(hf, tokenizer, arxiv):
    """val_loss is the VLAP loss of the model's logits; val_f1_macro is sklearn's."""
    from sklearn.metrics import f1_score

    train_ds, val_ds, num_classes = readme_datasets(arxiv, tokenizer)
    model = small_model(hf)
    model, history = VLAP.train(model, train_ds, val_ds, num_classes, loss="bce",
                                epochs=1, learning_rate=1e-3, threshold=0.4, seed=0,
                                verbose=0)

    xs, ys = zip(*[(x, y) for x, y in val_ds])
    assert len(xs) == 1, "the check below assumes one validation batch"
    logits = model(xs[0], training=False).logits
    y_val = ys[0].numpy()
    expected_loss = float(VLAP.losses.get("bce")(y_val, logits.numpy()))
    assert history.history["val_loss"][0] == pytest.approx(expected_loss, rel=1e-4, abs=1e-5)
    probs = 1.0 / (1.0 + np.exp(-logits.numpy()))
    expected_f1 = f1_score(y_val.astype(int), (probs > 0.4).astype(int), average="macro",
                           zero_division=0)
    assert history.history["val_f1_macro"][0] == pytest.approx(expected_f1)


def test_num_classes_mismatch_is_a_clear_error(hf, tokenizer, arxiv):
    train_ds, val_ds, num_classes = readme_datasets(arxiv, tokenizer)
    model = small_model(hf, num_labels=2)  # the config default, as in the paper's README
    with pytest.raises(ValueError, match=r"num_labels`=3.*num_labels=2"):
        VLAP.train(model, train_ds, val_ds, num_classes)


def test_missing_tf_keras_says_how_to_install(hf, monkeypatch):
    from VLAP.training import _legacy

    monkeypatch.setitem(sys.modules, "tf_keras", None)  # import tf_keras -> ImportError
    with pytest.raises(ImportError, match=r'pip install "VLAP\[legacy\]"'):
        _legacy.train(object(), None, None, 3)
