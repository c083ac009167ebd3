"""The import graph inside vecsearch/ (imports inside functions included), and its cycles.

    python benchmarks/diagnostics/module_graph.py [--dot] [--package OTHER/vecsearch]

Prints each module's imports of other vecsearch modules (lazy ones marked *), then any
cycle, or "no cycles". tests/test_module_graph.py asserts there are none.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "vecsearch"


def module_graph(package: Path = PACKAGE) -> dict[str, dict[str, bool]]:
    """module -> {imported module: whether only lazily (inside a function)}, for vecsearch's own modules."""
    names = {path.stem for path in package.glob("*.py")} - {"__main__"}
    graph: dict[str, dict[str, bool]] = {}
    for path in sorted(package.glob("*.py")):
        module = path.stem
        if module == "__main__":
            continue
        edges: dict[str, bool] = {}
        tree = ast.parse(path.read_text())
        top_level = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                targets = [node.module] if node.module else [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vecsearch."):
                targets = [node.module.split(".")[1]]
            for target in targets:
                target = target.split(".")[0]
                if target in names and target != module:
                    lazy = id(node) not in top_level
                    edges[target] = edges.get(target, True) and lazy
        graph[module] = edges
    return graph


def cycles(graph: dict[str, dict[str, bool]]) -> list[list[str]]:
    """Every elementary cycle found by a depth-first walk (each reported once, from its smallest module)."""
    found: set[tuple[str, ...]] = set()

    def walk(start: str, node: str, path: list[str]) -> None:
        for target in graph.get(node, {}):
            if target == start:
                found.add(tuple(path))
            elif target not in path and target > start:
                walk(start, target, path + [target])

    for start in graph:
        walk(start, start, [start])
    return [list(c) for c in sorted(found)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dot", action="store_true", help="print Graphviz dot instead")
    parser.add_argument("--package", type=Path, default=PACKAGE, help="another checkout's vecsearch/ folder")
    args = parser.parse_args()
    graph = module_graph(args.package)
    if args.dot:
        print("digraph vecsearch {")
        for module, edges in graph.items():
            for target, lazy in edges.items():
                print(f'  "{module}" -> "{target}"' + (" [style=dashed]" if lazy else "") + ";")
        print("}")
        return
    for module, edges in graph.items():
        print(f"{module}: " + ", ".join(f"{t}{'*' if lazy else ''}" for t, lazy in sorted(edges.items())))
    found = cycles(graph)
    print("\n".join(" -> ".join(c + [c[0]]) for c in found) if found else "no cycles")


if __name__ == "__main__":
    main()
