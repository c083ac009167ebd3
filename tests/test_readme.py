"""The README's Python quickstart runs as written, and its front page stays a front page."""

from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_python_quickstart_runs(tmp_path, monkeypatch, capsys):
    text = README.read_text()
    code = text[text.index("## Python"):].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md (Python quickstart)", "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    assert printed and printed[0].split()[:4] == ["1", "rrf", printed[0].split()[2], "p1"]
    assert [len(hits) for hits in namespace["batch"]] == [2, 2] and namespace["vectors"].shape[0] == 1
    assert [hit.id for hit in namespace["near"]] == ["p2"]


def test_the_readme_is_a_front_page():
    assert len(README.read_bytes()) <= 15_000
