"""The shape the code promises (docs/architecture.md): one adapter owns the API client; functions stay short."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "oma"
MAX_LINES = 50
# The node runner stands in for kubelet and bootstraps the cluster; it is test infrastructure, not a program
# of ours that talks to a user's cluster, so it keeps its own client (docs/architecture.md).
CLIENT_OWNERS = ("k8s", "devcluster")


def modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_only_the_adapter_imports_the_client_library() -> None:
    offenders = []
    for path in modules():
        if path.relative_to(SRC).parts[0] in CLIENT_OWNERS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(SRC)}: {n}" for n in names if n.split(".")[0] == "lightkube"]
    assert not offenders, offenders


def test_no_function_over_fifty_lines_without_a_reason() -> None:
    long = []
    for path in modules():
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            first = min([d.lineno for d in node.decorator_list] + [node.lineno])
            reason = lines[first - 2].strip() if first >= 2 else ""
            if length > MAX_LINES and not reason.startswith("# long:"):
                long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({length} lines)")
    assert not long, "split these, or give the reason in a `# long: ...` comment above the def: " + ", ".join(long)
