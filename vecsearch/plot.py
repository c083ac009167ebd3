"""`vecsearch plot`: the search page's map of the passages as a PNG (matplotlib, the [plot] extra)."""

from __future__ import annotations

from pathlib import Path

from .projection import embedding_map

PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#76b7b2", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#e15759", "#8cd17d", "#86bcb6", "#bab0ac"]  # the page's colours


def plot_map(retriever, output: str | Path, title: str | None = None) -> dict:
    """Draw the map of `retriever`'s passages, coloured by source folder, to `output` (PNG).

    Returns {"points", "passages", "groups"}: what was drawn.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    emap = embedding_map(retriever)
    figure, axes = plt.subplots(figsize=(8, 6.5))
    for number, name in enumerate(emap.groups):
        chosen = emap.group == number
        axes.scatter(emap.points[chosen, 0], emap.points[chosen, 1], s=4, alpha=0.6,
                     color=PALETTE[number % len(PALETTE)], label=f"{name} ({int(chosen.sum())})", linewidths=0)
    sampled = "" if len(emap.passage_ids) == emap.passages else f", a sample of {len(emap.passage_ids):,}"
    axes.set_title(title or f"{retriever.version_dir.parent.name}/{retriever.version_dir.name}: "
                            f"{emap.passages:,} passages{sampled} (PCA)")
    axes.set_xlabel("first principal component")
    axes.set_ylabel("second principal component")
    if emap.groups:
        axes.legend(title="source folder", markerscale=3, fontsize=8, loc="best")
    figure.tight_layout()
    figure.savefig(output, dpi=120)
    plt.close(figure)
    return {"points": len(emap.passage_ids), "passages": emap.passages, "groups": emap.groups}
