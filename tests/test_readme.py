"""The README's quickstart commands and its first Python example."""
from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _section(text: str, marker: str) -> str:
    start = text.index(marker)
    end = text.find("\n## ", start)
    return text[start:end if end >= 0 else None]


def test_quickstart_has_exactly_the_two_commands():
    body = _section(README.read_text(encoding="utf-8"), "<!-- quickstart -->")
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", body, re.S)
    commands = [line for b in blocks for line in b.splitlines() if line.strip()]
    assert commands == ["pip install -e . && gpunet train", 'pip install -e ".[test]" && pytest']


def test_first_python_example_runs(tmp_path, monkeypatch, capsys):
    text = README.read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)  # it saves a checkpoint in the working folder
    exec(compile(code, str(README) + ":example", "exec"), {"__name__": "__readme__"})
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("epoch 5:")
    accuracy = float(lines[-1].rsplit(" ", 1)[1].rstrip("%")) / 100
    assert accuracy > 0.9
    assert (tmp_path / "digits-mlp.npz").exists()
