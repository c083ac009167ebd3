"""The import graph inside vecsearch/ (imports inside functions included), and its cycles.

    python -m benchmarks.diagnostics.module_graph [--dot] [--package OTHER/vecsearch]

Prints each module's imports of other vecsearch modules (lazy ones marked *), then any
cycle, or "no cycles". tests/test_module_graph.py asserts there are none.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "vecsearch"


def module_names(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name relative to it ("storage.indexdir"; a
    subpackage is its __init__: "corpus")."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts and parts != ["__main__"]:
            names[".".join(parts)] = path
    return names


def _resolve(parts: list[str], names: dict[str, Path]) -> str | None:
    """The longest module name that `parts` starts with (an imported name is not a module)."""
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in names:
            return ".".join(parts[:end])
    return None


def module_graph(package: Path = PACKAGE) -> dict[str, dict[str, bool]]:
    """module -> {imported module: whether only lazily (inside a function)}, for vecsearch's own modules."""
    names = module_names(package)
    graph: dict[str, dict[str, bool]] = {}
    for module, path in names.items():
        is_package = path.name == "__init__.py"
        here = module.split(".") if is_package else module.split(".")[:-1]
        edges: dict[str, bool] = {}
        tree = ast.parse(path.read_text())
        top_level = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            candidates: list[list[str]] = []
            if isinstance(node, ast.ImportFrom) and node.level:
                base = here[: len(here) - (node.level - 1)]
                stem = base + (node.module.split(".") if node.module else [])
                candidates = [stem + [alias.name] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vecsearch."):
                stem = node.module.split(".")[1:]
                candidates = [stem + [alias.name] for alias in node.names]
            elif isinstance(node, ast.Import):
                candidates = [a.name.split(".")[1:] for a in node.names if a.name.startswith("vecsearch.")]
            for parts in candidates:
                target = _resolve(parts, names)
                if target and target != module:
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
