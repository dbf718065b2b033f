"""The PNG: latency distribution (CDF) per setup, one panel per concurrency level."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Dict, List

COLORS = {"project": "tab:blue", "project-memory": "tab:cyan", "baseline": "tab:orange", "floor": "tab:gray"}


def latency_cdf(latencies_ms: Dict[str, Dict[str, List[float]]], out: Path, title: str) -> Path:
    """Writes CDFs of ``latencies_ms[setup][level]`` (one panel per level, log x axis) to ``out``."""
    with warnings.catch_warnings():  # matplotlib 3.5 calls pyparsing APIs that now warn
        warnings.simplefilter("ignore")
        return _draw(latencies_ms, out, title)


def _draw(latencies_ms: Dict[str, Dict[str, List[float]]], out: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = sorted({lv for per_setup in latencies_ms.values() for lv in per_setup}, key=int)
    fig, axes = plt.subplots(1, len(levels), figsize=(5.2 * len(levels), 4.2), sharey=True, squeeze=False)
    for ax, level in zip(axes[0], levels):
        for setup, per_level in latencies_ms.items():
            values = sorted(per_level.get(level) or [])
            if not values:
                continue
            ys = [(i + 1) / len(values) for i in range(len(values))]
            ax.step(values, ys, where="post", color=COLORS.get(setup), label=setup)
        ax.set_xscale("log")
        ax.set_title(f"{level} client{'s' if level != '1' else ''}")
        ax.set_xlabel("latency (ms, log scale)")
        ax.grid(True, which="both", alpha=0.3)
        for q in (0.5, 0.95, 0.99):
            ax.axhline(q, color="black", lw=0.5, alpha=0.4)
    axes[0][0].set_ylabel("share of requests answered within")
    handles: Dict[str, object] = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles.keys()), loc="lower center", ncol=len(handles), fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
