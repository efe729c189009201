"""The loss study's candidate table and the readers of its results files.

:mod:`VLAP.experiments.study` (training the candidates) and
:mod:`VLAP.experiments.study_report` (the tables of experiments/RESULTS.md) both
read this module and not each other: :data:`CANDIDATES` (each candidate's loss,
fixed options and the settings tried on validation), the setting labels of the
results files (:func:`setting_label`, :func:`parse_setting`), a candidate's
loss options (:func:`loss_kwargs`, :func:`same_training`) and the readers of
``results.csv``/``lodo.csv`` (:func:`load`), ``selection.csv``
(:func:`load_selection`) and of one pick's test rows (:func:`pick_rows`).
"""

from pathlib import Path

import pandas as pd


def _grid(**axes):
    """Every combination of the axes' values, as setting dicts (first axis slowest)."""
    settings: list[dict] = [{}]
    for key, values in axes.items():
        settings = [{**s, key: v} for s in settings for v in values]
    return settings


#: candidate -> (loss name, fixed options, settings tried on validation).
#: ``beta`` is the slope of the surrogate inside the candidate (eta = 0: on logits an
#: offset only moves the threshold); schedule settings are fractions of the epochs.
CANDIDATES: "dict[str, tuple[str, dict, list[dict]]]" = {
    "bce": ("binary_crossentropy", {}, [{}]),
    "asl": ("asymmetric", {}, [{}]),
    # today's strongest baselines (issue 27), at their papers' settings: ZLPR (Su et al.
    # 2022; it decides at logit 0, no cut to tune) and the Two-way Multi-Label Loss
    # (Kobayashi, CVPR 2023; temperatures Tp = 4, Tn = 1, decided at logit 0)
    "zlpr": ("zlpr", {}, [{}]),
    "two_way": ("two_way", {}, [{}]),
    "sigmoid_f1": ("sigmoid_f1", {}, _grid(beta=[1.0, 5.0, 10.0, 30.0])),
    "f1_plus_bce": ("weighted_sum", {"baseline": "binary_crossentropy"},
                    _grid(beta=[1.0, 10.0], weight=[0.1, 0.3, 1.0])),
    "f1_plus_asl": ("weighted_sum", {"baseline": "asymmetric"},
                    _grid(beta=[1.0, 10.0], weight=[0.1, 0.3, 1.0])),
    "bce_to_f1": ("scheduled", {"end_kwargs": {"beta": 1.0}},
                  [{"start_fraction": 0.1, "ramp_fraction": 0.2},
                   {"start_fraction": 0.25, "ramp_fraction": 0.25},
                   {"start_fraction": 0.5, "ramp_fraction": 0.1}]),
    "ema_f1": ("ema_sigmoid_f1", {}, _grid(beta=[1.0, 10.0], momentum=[0.9, 0.99])),
    "f1_plus_count": ("weighted_sum", {"baseline": "label_count_error",
                                       "surrogate_kwargs": {"beta": 1.0}},
                      _grid(weight=[0.03, 0.1, 0.3])),
    # the lead, at its two fixed weights (no selection): `--candidates lead_*`
    "lead_bce_0.5": ("weighted_sum", {"baseline": "binary_crossentropy",
                                      "surrogate_kwargs": {"beta": 1.0}, "weight": 0.5}, [{}]),
    "lead_bce_0.1": ("weighted_sum", {"baseline": "binary_crossentropy",
                                      "surrogate_kwargs": {"beta": 1.0}, "weight": 0.1}, [{}]),
    # two heads on one trunk: sigmoidF1 decides (decision head, logit > 0), weight·BCE
    # trains the score head that ranks (mAP); MLP configs only (`head = "dual"`)
    "dual_head": ("dual_head", {"baseline": "binary_crossentropy"},
                  _grid(beta=[1.0, 10.0], weight=[0.1, 0.3, 1.0])),
    # the fixed default of issues 14 and 20 (retired by issue 27: the README recommends only the
    # validation choice), kept so that its rows in experiments/beyond_issue20 can be made again:
    # `--candidates default`
    "default": ("weighted_sum", {"baseline": "binary_crossentropy",
                                 "surrogate_kwargs": {"beta": 1.0}, "weight": 0.1}, [{}]),
}
#: The baselines without a setting; their rows with per-label cuts tuned on validation
#: are their own rows (``<name>_tuned``) in the study's tables. The one list the study's
#: baseline tables derive from (study.BASELINES, study_report.BASELINES and ORDER,
#: selection.NOT_RECOMMENDED).
TUNED_BASELINES = ("bce", "asl", "zlpr", "two_way")
#: Model options of a candidate (on top of the config's ``[model]`` table).
MODEL_OPTIONS = {"dual_head": {"head": "dual"}}
#: What ``vlap reproduce beyond`` runs by default (the leads are for the MULAN check).
DEFAULT_CANDIDATES = tuple(c for c in CANDIDATES
                           if not c.startswith("lead_") and c != "default")


def setting_label(setting):
    """``"weight=0.1"``: a setting as a short, stable string (``"-"`` for none).

    Example:
    >>> setting_label({"weight": 0.5, "beta": 1.0})
    'beta=1,weight=0.5'
    >>> setting_label({})
    '-'
    """
    return ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in sorted(setting.items())) or "-"


def loss_kwargs(candidate, setting, epochs):
    """The loss name and options of ``candidate`` with ``setting``.

    Schedule settings are fractions of the config's epochs (so one grid serves
    a 12-epoch and a 60-epoch config).

    Example:
    >>> loss_kwargs("bce_to_f1", {"start_fraction": 0.1, "ramp_fraction": 0.2}, 60)
    ('scheduled', {'end_kwargs': {'beta': 1.0}, 'start_epoch': 6, 'ramp_epochs': 12})
    >>> loss_kwargs("f1_plus_bce", {"beta": 10.0, "weight": 0.3}, 60)
    ('weighted_sum', {'baseline': 'binary_crossentropy', 'surrogate_kwargs': {'beta': 10.0}, 'weight': 0.3})
    """
    loss, fixed, _ = CANDIDATES[candidate]
    kw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in fixed.items()}
    for key, value in setting.items():
        if key == "start_fraction":
            kw["start_epoch"] = int(round(value * epochs))
        elif key == "ramp_fraction":
            kw["ramp_epochs"] = max(1, int(round(value * epochs)))
        elif key == "beta" and loss in ("weighted_sum", "scheduled", "dual_head"):
            inner = "end_kwargs" if loss == "scheduled" else "surrogate_kwargs"
            kw[inner] = {**kw.get(inner, {}), "beta": value}
        else:
            kw[key] = value
    return loss, kw


def parse_setting(label):
    """The setting dict of a :func:`setting_label` (values as floats).

    Example:
    >>> parse_setting("beta=1,weight=0.1"), parse_setting("-")
    ({'beta': 1.0, 'weight': 0.1}, {})
    """
    if not isinstance(label, str) or label in ("-", "", "nan"):  # pandas reads "" as NaN
        return {}
    return {k: float(v) for k, v in (part.split("=") for part in str(label).split(","))}


def same_training(a, b, epochs=100):
    """Whether two ``(candidate, setting label)`` train the same model: same loss,
    options and model options (e.g. ``default`` and ``f1_plus_bce`` at β=1, λ=0.1).

    Example:
    >>> same_training(("default", "-"), ("f1_plus_bce", "beta=1,weight=0.1"))
    True
    >>> same_training(("default", "-"), ("dual_head", "beta=1,weight=0.1"))
    False
    """
    def key(pair):
        cand, label = pair
        return loss_kwargs(cand, parse_setting(label), epochs), MODEL_OPTIONS.get(cand, {})

    return key(a) == key(b)


def load(folder, lodo=False):
    """The study's test results as a long DataFrame; tuned BCE/ASL as their own rows.

    With ``lodo``, the rows of ``lodo.csv`` (settings trained only for the
    leave-one-dataset-out table) are added, marked ``source = "lodo"``."""
    df = pd.read_csv(Path(folder) / "results.csv", dtype={"threshold": str})
    if lodo:
        df["source"] = "results"
        if (Path(folder) / "lodo.csv").exists():
            extra = pd.read_csv(Path(folder) / "lodo.csv", dtype={"threshold": str})
            df = pd.concat([df, extra.assign(source="lodo")], ignore_index=True)
    tuned = df[(df.threshold == "tuned") & df.candidate.isin(TUNED_BASELINES)].copy()
    tuned["candidate"] = tuned["candidate"] + "_tuned"
    return pd.concat([df[df.threshold == "0.5"], tuned], ignore_index=True)


def load_shipped(folder, lodo=False):
    """The study's test rows of every model decided by the rule it would ship.

    Each model's rule was chosen on validation only (``rules.csv``, written by
    :func:`VLAP.experiments.study.run_dataset`: cuts tuned per label when their
    out-of-fold validation macro-F1 beats 0.5's), so the rows of a loss may mix
    rules across seeds, as shipping each model would. Columns of ``results.csv``
    plus ``rule``; with ``lodo``, the leave-one-dataset-out runs' rows too
    (``lodo.csv`` with ``lodo_rules.csv``). None for a study run before the rules
    were recorded (no ``rules.csv``), such as the committed issue-20 study.

    Raises:
        ValueError: a model with test rows has no rule, or a rule names a threshold
            its model has no rows for.
    """
    folder = Path(folder)
    if not (folder / "rules.csv").exists():
        return None
    pairs = [("results.csv", "rules.csv")] + ([("lodo.csv", "lodo_rules.csv")] if lodo else [])
    key = ["dataset", "candidate", "setting", "seed"]
    parts = []
    for results, rules in pairs:
        if not (folder / results).exists():
            continue
        df = pd.read_csv(folder / results, dtype={"threshold": str, "setting": str})
        rule = pd.read_csv(folder / rules, dtype={"rule": str, "setting": str})[key + ["rule"]]
        merged = df.merge(rule, on=key, how="left", validate="many_to_one")
        if merged["rule"].isna().any():
            lost = merged[merged["rule"].isna()][key].drop_duplicates().head(3)
            raise ValueError(f"{folder / rules}: no rule for the models "
                             f"{lost.to_dict('records')} of {folder / results}")
        chosen = merged[merged["threshold"] == merged["rule"]]
        counts = chosen.groupby(key).size()
        if len(counts) != len(rule):
            raise ValueError(f"{folder / rules}: some models' shipped rule has no test rows "
                             f"in {folder / results}")
        parts.append(chosen)
    return pd.concat(parts, ignore_index=True)


def load_selection(folder):
    """``selection.csv`` (validation scores of every setting tried) as a DataFrame."""
    selection = pd.read_csv(Path(folder) / "selection.csv")
    selection["chosen"] = selection["chosen"].astype(str) == "True"
    return selection


def pick_rows(df, dataset, candidate, setting):
    """Test rows on ``dataset`` of a run that trains what ``(candidate, setting)`` trains:
    its own rows when ``setting`` was chosen there, else those of an equivalent
    candidate (e.g. ``default`` for ``f1_plus_bce`` at β=1, λ=0.1); None if none ran."""
    d = df[df.dataset == dataset]
    if "source" in d:  # the study's own rows first, then the leave-one-out runs (lodo.csv)
        d = d.sort_values("source", kind="stable")
    pairs = d[["candidate", "setting"]].drop_duplicates().itertuples(index=False)
    match = sorted((c != candidate or st != setting, c, st) for c, st in pairs
                   if c == candidate and st == setting
                   or not c.endswith("_tuned") and same_training((c, st), (candidate, setting)))
    if not match:
        return None
    _, c, st = match[0]
    return d[(d.candidate == c) & (d.setting == st)]
