"""The paper's published numbers (Bénédict et al., TMLR 2022) and our comparison with them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from VLAP.experiments.results import display_name, summary_table

#: The paper's published numbers (Bénédict et al., TMLR 2022, threshold 0.5),
#: cells as its tables name them: weightedF1, microF1, macroF1, precision. Those
#: tables were made by the paper's code (``computeMetrics``), which calls
#: scikit-learn with ``average="macro"`` for macroF1 and ``"micro"`` for microF1
#: and averages precision over labels, so the columns carry scikit-learn's
#: meaning (micro > macro in every cell agrees), whatever the paper's text says.
PAPER_RESULTS = {
    "moviePosters": {
        "binary_crossentropy": (0.149, 0.186, 0.051, 0.090),
        "focal": (0.154, 0.192, 0.055, 0.115),
        "unbounded_f1": (0.243, 0.207, 0.136, 0.105),
        "sigmoid_f1": (0.300, 0.224, 0.158, 0.104),
    },
    "arXiv2020": {
        "binary_crossentropy": (0.088, 0.105, 0.073, 0.085),
        "focal": (0.009, 0.011, 0.008, 0.054),
        "unbounded_f1": (0.087, 0.088, 0.077, 0.100),
        "sigmoid_f1": (0.106, 0.106, 0.093, 0.096),
    },
}
#: Our metric for each of the paper's cells (paper column -> VLAP/scikit-learn
#: name), mapped by the code that produced the tables (see PAPER_RESULTS).
PAPER_COLUMNS = (
    ("weightedF1", "f1_weighted"),
    ("microF1", "f1_micro"),
    ("macroF1", "f1_macro"),
    ("precision", "precision_macro"),
)


def paper_comparison(rows: Sequence[Mapping[str, Any]], cfg: Mapping[str, Any]) -> list[str]:
    """Markdown lines: our numbers beside the paper's, in the paper's naming."""
    tables = summary_table(rows)
    lines = ["## Comparison with the paper's published numbers", "",
             "Cells are weightedF1 / microF1 / macroF1 / precision as the paper's tables "
             "name them, threshold 0.5, ours mapped by the code that produced those tables "
             "(its computeMetrics calls scikit-learn with average='macro' for macroF1): "
             "f1_weighted / f1_micro / f1_macro / precision_macro. The paper's text defines "
             "macro and micro the other way round; its numbers carry scikit-learn's meaning "
             "(micro > macro in every cell). ASL and BCE with tuned thresholds are not in the "
             "paper's tables.", ""]
    any_table = False
    for d in cfg["datasets"]:
        paper_name = d.get("paper")
        if not paper_name or d["name"] not in tables:
            continue
        any_table = True
        stats = tables[d["name"]]
        cell = {(k, m): mean for k, m, mean
                in stats[["key", "metric", "mean"]].itertuples(index=False)}
        keys = list(dict.fromkeys(stats["key"]))
        lines += [f"### {d['name']} (paper: {paper_name})", "",
                  "| loss | paper | ours |", "|---|---|---|"]
        for k in keys:
            loss, variant, kw = k
            paper = PAPER_RESULTS[paper_name].get(loss) if variant == "" else None
            p = " / ".join(f"{v:.3f}" for v in paper) if paper else "—"
            ours = " / ".join(f"{cell.get((k, m), float('nan')):.3f}" for _, m in PAPER_COLUMNS)
            lines.append(f"| {display_name(loss, variant, json.loads(kw))} | {p} | {ours} |")
        lines.append("")
    if not any_table:
        lines += ["(No dataset of this experiment has published numbers in the paper; "
                  "the paper reports moviePosters and arXiv2020.)", ""]
    return lines

