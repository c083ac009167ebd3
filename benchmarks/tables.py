"""Small helpers the benchmark scripts share: markdown tables and where results go."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def real_queries(count: int | None = 300) -> list[str]:
    """The first `count` queries (None: all) of the collections in ../shared/data, in name order."""
    queries = []
    for path in sorted(DATA.glob("*/queries.jsonl")):
        queries.extend(json.loads(line)["text"] for line in path.open())
    if not queries:
        raise SystemExit(f"no queries.jsonl under {DATA}")
    return queries[:count]


def markdown_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def chart(figsize: tuple[float, float] = (7, 4)):
    """A new (figure, axes) drawn off-screen (matplotlib, from the [bench] extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)


def save_chart(figure, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def write_results(name: str, results: dict, markdown: str, out: Path = RESULTS) -> None:
    """Write `name`.json and `name`.md under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / f"{name}.md").write_text(markdown.rstrip() + "\n")
