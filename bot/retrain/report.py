"""The report written beside every trained model: ``report.json``, ``report.md`` and ``confusion.png``.

The scores come from :mod:`bot.retrain.gate` (the development set through the shared grader and
the crisis suite, both against a throwaway server on the model, and each development message
parsed by the model in process); this module turns them into numbers per topic and into files:

- intent F1 per topic (precision, recall, F1 and support of each label of the development set,
  where an FAQ topic's label is the answer chosen and any other label the intent), the confusion
  matrix (PNG) and the most frequent confusions with an example;
- crisis recall and over-escalation (crisis suite), FAQ accuracy and the other grader rates;
- the fallback rate: the share of the development set's questions (FAQ and small talk) that got
  "not understood" (``nlu_fallback``);
- training time and each step's time, and the gate's decision with what got worse.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Tuple

FALLBACK = "nlu_fallback"
# Labels that are not FAQ topics come first in tables and on the matrix's axes.
FIRST = ("emergency", "out_of_scope", FALLBACK, "greet", "goodbye", "thanks", "bot_challenge", "human_handoff",
         "capabilities", "distress", "privacy")

# One parsed message: (expected label, predicted label, text).
Parsed = Tuple[str, str, str]


def ordered(labels: Sequence[str]) -> List[str]:
    """Labels in display order: the fixed non-FAQ ones first, then the rest alphabetically."""
    unique = set(labels)
    return [x for x in FIRST if x in unique] + sorted(unique - set(FIRST))


def topic_scores(parsed: Sequence[Parsed]) -> Dict[str, Dict[str, float]]:
    """Precision, recall, F1 and support of every expected label (labels only predicted are left out)."""
    expected = Counter(e for e, _, _ in parsed)
    predicted = Counter(p for _, p, _ in parsed)
    right = Counter(e for e, p, _ in parsed if e == p)
    scores: Dict[str, Dict[str, float]] = {}
    for label in ordered(list(expected)):
        precision = right[label] / predicted[label] if predicted[label] else 0.0
        recall = right[label] / expected[label]
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[label] = {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
                         "support": expected[label]}
    return scores


def macro_f1(scores: Mapping[str, Mapping[str, float]]) -> float | None:
    """The mean F1 over the labels (None without any)."""
    return round(sum(s["f1"] for s in scores.values()) / len(scores), 4) if scores else None


def confusion(parsed: Sequence[Parsed]) -> Tuple[List[str], List[List[int]]]:
    """(labels, matrix): ``matrix[i][j]`` counts messages expected ``labels[i]`` and predicted ``labels[j]``."""
    labels = ordered([e for e, _, _ in parsed] + [p for _, p, _ in parsed])
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for e, p, _ in parsed:
        matrix[index[e]][index[p]] += 1
    return labels, matrix


def top_confusions(parsed: Sequence[Parsed], n: int = 10) -> List[Dict[str, Any]]:
    """The ``n`` most frequent (expected, predicted) mistakes, each with its count and one example."""
    counts = Counter((e, p) for e, p, _ in parsed if e != p)
    examples: Dict[Tuple[str, str], str] = {}
    for e, p, text in parsed:
        examples.setdefault((e, p), text)
    return [{"expected": e, "predicted": p, "count": c, "example": examples[(e, p)]}
            for (e, p), c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def fallback_rate(parsed: Sequence[Parsed], questions: Sequence[str]) -> float | None:
    """Share of the messages whose expected label is in ``questions`` that were not understood."""
    asked = [p for e, p, _ in parsed if e in set(questions)]
    return round(sum(p == FALLBACK for p in asked) / len(asked), 4) if asked else None


def plot_confusion(labels: Sequence[str], matrix: Sequence[Sequence[int]], path: Path, title: str) -> None:
    """Writes the confusion matrix as a PNG (rows: expected, columns: predicted; counts written in)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(6.0, 0.32 * len(labels) + 3)
    fig, ax = plt.subplots(figsize=(size, size))
    try:
        # colour: the share of each expected label's messages, so that one mistake shows in any row
        shares = [[count / (sum(row) or 1) for count in row] for row in matrix]
        ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(len(labels)))
        ax.set_yticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=90, fontsize=7)
        ax.set_yticklabels(labels, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("expected")
        ax.set_title(title, fontsize=9)
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                if count:
                    color = "white" if shares[i][j] > 0.5 else ("black" if i == j else "darkred")
                    ax.text(j, i, str(count), ha="center", va="center", fontsize=6, color=color)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)


# --- Markdown ----------------------------------------------------------------------------------

def _rate(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def _pair(data: Mapping[str, Any] | None, key: str) -> Tuple[float | None, int]:
    """A grader rate ``[rate, count]`` (or a bare number) from an evaluation's dict."""
    value = (data or {}).get(key)
    if isinstance(value, (list, tuple)):
        return (None if value[0] is None else float(value[0])), int(value[1])
    return (None if value is None else float(value)), 0


def score_rows(evaluation: Mapping[str, Any], running: Mapping[str, Any] | None) -> List[Tuple[str, str, str]]:
    """(measure, this model, running model) rows of the summary table."""
    def row(name: str, get: Any) -> Tuple[str, str, str]:
        return name, _rate(get(evaluation)), (_rate(get(running)) if running else "-")

    def dev(key: str) -> Any:
        return lambda ev: _pair(ev.get("dev"), key)[0]

    def crisis(key: str) -> Any:
        return lambda ev: (ev.get("crisis") or {}).get(key)

    faq_n = _pair(evaluation.get("dev"), "faq")[1]
    em_n = _pair(evaluation.get("dev"), "emergency")[1]
    crisis_data = evaluation.get("crisis") or {}
    return [
        row(f"FAQ accuracy (development set, {faq_n})", dev("faq")),
        row(f"emergency recall (crisis suite, {crisis_data.get('emergencies', 0)})", crisis("recall")),
        row(f"emergency recall (development set, {em_n})", dev("emergency")),
        row(f"over-escalation (crisis suite look-alikes, {crisis_data.get('look_alikes', 0)})",
            crisis("over_escalation")),
        row("over-escalation (development set)", dev("over_escalation")),
        row("out of scope (development set)", dev("out_of_scope")),
        row("small talk (development set)", dev("smalltalk")),
        row("fallback rate (development set questions)", lambda ev: ev.get("fallback_rate")),
        row("intent macro F1 (development set)", lambda ev: macro_f1(ev.get("topics") or {})),
    ]


def markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown (what ``python -m bot models --report ID`` prints)."""
    ev = report.get("evaluation") or {}
    running = report.get("running") or None
    gate = report.get("gate") or {}
    model = report.get("model") or {}
    training = report.get("training") or {}
    lines = [f"# Model {report.get('id', '?')}: {report.get('status', '?')}", ""]
    lines.append(f"Trained {report.get('created', '?')} in {training.get('seconds', 0):.1f} s from "
                 f"`{training.get('config', '?')}`, `{training.get('domain', '?')}`, `{training.get('data', '?')}` "
                 f"(model sha256 `{str(model.get('sha256', '?'))[:16]}`, {model.get('bytes', 0) / 1e6:.1f} MB).")
    lines += ["", "## Decision", ""]
    if gate:
        verdict = "PROMOTED" if gate.get("promote") and report.get("status") == "promoted" else (
            "PASSED the gate" if gate.get("promote") else "REFUSED")
        lines.append(f"**{verdict}**: " + "; ".join(gate.get("reasons") or ["-"]))
        against = gate.get("against")
        if against:
            lines.append(f"Compared with the running model (sha256 `{str(against)[:16]}`); FAQ accuracy may drop "
                         f"by at most {gate.get('margin', 0):.3f}, emergency recall must stay 1.0.")
    lines += ["", "## Scores", "", "| measure | this model | running model |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in score_rows(ev, running)]
    worse = gate.get("worse") or []
    if worse:
        lines += ["", "## What got worse", ""] + [f"- {w}" for w in worse]
    kinds = (ev.get("crisis") or {}).get("recall_by_kind") or {}
    if kinds:
        lines += ["", "Crisis recall by kind: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(kinds.items())) + "."]
    topics = ev.get("topics") or {}
    if topics:
        lines += ["", "## Intent F1 per topic (development set)", "",
                  "Each development message parsed by the model; an FAQ topic's label is the answer chosen.", "",
                  "| topic | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        lines += [f"| {t} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |"
                  for t, s in topics.items()]
    confusions = ev.get("confusions") or []
    if confusions:
        lines += ["", "## Most frequent confusions", "", "| expected | predicted | count | example |",
                  "|---|---|---|---|"]
        lines += [f"| {c['expected']} | {c['predicted']} | {c['count']} | {_cell(c['example'])} |"
                  for c in confusions]
        lines += ["", f"(`{FALLBACK}` is \"not understood\": for an out-of-scope message it gets the same kind of "
                  "reply as `out_of_scope`, the center's line and no answer.)"]
    lines += ["", "![confusion matrix of the development set](confusion.png)"]
    steps = report.get("steps") or {}
    if steps:
        lines += ["", "## Steps", "", "| step | seconds |", "|---|---|"]
        lines += [f"| {name} | {seconds:.1f} |" for name, seconds in steps.items()]
        if report.get("total_s") is not None:
            served = report.get("served_after_s")
            lines += ["", f"{report['total_s']:.0f} s in all" + (
                f"; the running assistant answered with this model {served:.1f} s after its promotion."
                if served is not None else "; no running assistant took it at once (it does at its next start).")]
    return "\n".join(lines) + "\n"


def _cell(text: str, limit: int = 90) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def write(directory: Path, report: Mapping[str, Any], parsed: Sequence[Parsed]) -> None:
    """Writes ``report.json``, ``report.md`` and ``confusion.png`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    labels, matrix = confusion(parsed)
    if labels:
        plot_confusion(labels, matrix, directory / "confusion.png",
                       f"model {report.get('id', '?')}: development set, expected (rows) x predicted (columns)")
    (directory / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (directory / "report.md").write_text(markdown(report), encoding="utf-8")


def read(directory: Path) -> Dict[str, Any]:
    """A model's ``report.json`` (empty when it has none or it cannot be read)."""
    try:
        data = json.loads((directory / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
