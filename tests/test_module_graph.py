"""No import cycle inside vecsearch/, imports inside functions included (issue: a reader can follow the data flow)."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "diagnostics" / "module_graph.py"


def load_script():
    spec = importlib.util.spec_from_file_location("module_graph", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_cycles():
    graph_tools = load_script()
    graph = graph_tools.module_graph()
    assert {"retriever", "indexing", "storage.indexdir", "training.self_supervised", "training.distillation",
            "search.metrics"} <= set(graph)
    assert graph_tools.cycles(graph) == []
    assert "storage.backends" not in graph["storage.indexdir"]  # version bookkeeping knows folders; writers pass the release
    assert "training.self_supervised" not in graph["training.distillation"]
    assert "evaluation" not in graph["search.calibration"]


# The pipeline's stages, in the order data flows through them: a module may import its own
# stage and those before it, never a later one (lazy imports included).
STAGES = ["errors", "version", "progress", "corpus", "model", "search", "training", "storage", "indexing",
          "retriever", "evaluation", "serve", "cli"]


def test_imports_flow_one_way_through_the_stages():
    graph = load_script().module_graph()
    stage = {name: STAGES.index(name.split(".")[0]) for name in graph}
    upward = [f"{module} -> {target}" for module, edges in graph.items() for target in edges
              if stage[target] > stage[module]]
    assert not upward, upward


def test_the_cycle_finder_finds_cycles():
    graph_tools = load_script()
    assert graph_tools.cycles({"a": {"b": False}, "b": {"c": True}, "c": {"a": True}, "d": {"a": False}}) == [["a", "b", "c"]]


def test_a_query_loads_neither_the_write_path_nor_torch(tagged):
    import subprocess
    import sys

    code = ("import sys\nfrom vecsearch.cli import main\n"
            f"try:\n    main(['query', 'a wild animal', '-i', {str(tagged[0])!r}, '--json'])\nexcept SystemExit:\n    pass\n"
            "loaded = [m for m in ('vecsearch.indexing', 'vecsearch.search.calibration', 'vecsearch.training.loop', 'torch') if m in sys.modules]\n"
            "assert not loaded, loaded\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_no_function_over_80_lines_and_backend_names_compared_only_by_the_backends():
    import ast
    import re

    package = SCRIPT.parents[2] / "vecsearch"
    long = []
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text())
        long += [f"{path.name}:{node.name}" for node in ast.walk(tree)
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80]
        if "backends" not in path.relative_to(package).parts:
            assert not re.search(r"""[!=]= ["'](milvus|faiss)["']""", path.read_text()), path.name
    assert not long, long
