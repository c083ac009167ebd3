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
    assert {"retriever", "indexing", "indexdir", "training", "distillation", "metrics"} <= set(graph)
    assert graph_tools.cycles(graph) == []
    assert "backends" not in graph["indexdir"]  # version bookkeeping knows folders; writers pass the release
    assert "training" not in graph["distillation"] and "evaluation" not in graph["calibration"]


def test_the_cycle_finder_finds_cycles():
    graph_tools = load_script()
    assert graph_tools.cycles({"a": {"b": False}, "b": {"c": True}, "c": {"a": True}, "d": {"a": False}}) == [["a", "b", "c"]]


def test_a_query_loads_neither_the_write_path_nor_torch(tagged):
    import subprocess
    import sys

    code = ("import sys\nfrom vecsearch.cli import main\n"
            f"try:\n    main(['query', 'a wild animal', '-i', {str(tagged[0])!r}, '--json'])\nexcept SystemExit:\n    pass\n"
            "loaded = [m for m in ('vecsearch.indexing', 'vecsearch.calibration', 'vecsearch.training', 'torch') if m in sys.modules]\n"
            "assert not loaded, loaded\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_no_function_over_80_lines_and_backend_names_compared_only_by_the_backends():
    import ast
    import re

    package = SCRIPT.parents[2] / "vecsearch"
    long = []
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text())
        long += [f"{path.name}:{node.name}" for node in ast.walk(tree)
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80]
        if path.stem not in ("backends", "milvus_store"):
            assert not re.search(r"""[!=]= ["'](milvus|faiss)["']""", path.read_text()), path.name
    assert not long, long
