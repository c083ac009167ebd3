"""`vecsearch plot`: the search page's map of the passages as a PNG (matplotlib, the [plot] extra):
clusters coloured and labelled with their distinctive words, and a query with its hits if given."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .projection import embedding_map

PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#76b7b2", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#e15759", "#8cd17d", "#86bcb6", "#bab0ac"]  # the page's colours


def plot_map(retriever, output: str | Path, title: str | None = None, query: str | None = None, k: int = 10,
             mode: str | None = None) -> dict:
    """Draw the map of `retriever`'s passages to `output` (PNG), with `query` and its `k` hits if given.

    Returns {"points", "passages", "layout", "clusters", "groups", "hits"}: what was drawn.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    emap = embedding_map(retriever)
    figure, axes = plt.subplots(figsize=(9, 7))
    for number, label in enumerate(emap.clusters):
        chosen = emap.cluster == number
        colour = PALETTE[number % len(PALETTE)]
        axes.scatter(emap.points[chosen, 0], emap.points[chosen, 1], s=5, alpha=0.55, color=colour,
                     label=f"{label} ({int(chosen.sum())})", linewidths=0)
        if chosen.any():  # the label at the cluster's densest middle: the median of its points
            x, y = np.median(emap.points[chosen], axis=0)
            axes.annotate(label, (x, y), ha="center", va="center", fontsize=8, weight="bold", color="#222",
                          bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": colour, "alpha": 0.8})
    hits = []
    if query:
        hits = retriever.search(query, k=k, mode=mode)
        query_point = emap.place(retriever.query_encoder.encode([query]))[0]
        ids = [hit.passage_id for hit in hits]
        points = emap.place(retriever.index.vectors(ids), ids) if hits else np.empty((0, 2))
        for rank, (x, y) in enumerate(points, 1):
            axes.plot([query_point[0], x], [query_point[1], y], color="#d40000", alpha=0.35, linewidth=0.8)
            axes.scatter([x], [y], s=70, color="#111", zorder=3)
            axes.annotate(str(rank), (x, y), ha="center", va="center", fontsize=6, color="white", zorder=4)
        axes.scatter([query_point[0]], [query_point[1]], marker="D", s=90, color="#d40000", zorder=5,
                     label=f"query: {query[:40]}")
    sampled = "" if len(emap.passage_ids) == emap.passages else f", a sample of {len(emap.passage_ids):,}"
    method = "t-SNE" if emap.layout == "tsne" else "PCA"
    axes.set_title(title or f"{retriever.version_dir.parent.name}/{retriever.version_dir.name}: "
                            f"{emap.passages:,} passages{sampled} ({method}; clusters by k-means)")
    axes.set_xticks([])
    axes.set_yticks([])
    if emap.clusters:
        legend = axes.legend(title="cluster: distinctive words", fontsize=7, loc="center left",
                             bbox_to_anchor=(1.01, 0.5), title_fontsize=8)
        for handle in legend.legend_handles:  # every marker at one readable size
            handle.set_sizes([30])
    figure.tight_layout()
    figure.savefig(output, dpi=120)
    plt.close(figure)
    return {"points": len(emap.passage_ids), "passages": emap.passages, "layout": emap.layout,
            "clusters": emap.clusters, "groups": emap.groups, "hits": [hit.id for hit in hits]}
