"""The packages of chatledger/ import each other in one direction only (no cycle)."""

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "chatledger"


def imports_between_parts() -> dict[str, set[str]]:
    """Top-level part (package or module of chatledger/) -> the parts it imports."""
    edges: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        part = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("chatledger."):
                target = (node.module or "").split(".")[1]
                if target != part:
                    edges[part].add(target)
    return edges


def test_no_import_cycle_between_the_parts_of_chatledger() -> None:
    edges = imports_between_parts()
    done: set[str] = set()

    def visit(part: str, path: tuple[str, ...]) -> None:
        assert part not in path, f"import cycle: {' -> '.join((*path, part))}"
        if part in done:
            return
        for target in sorted(edges.get(part, ())):
            visit(target, (*path, part))
        done.add(part)

    for part in sorted(edges):
        visit(part, ())


PURE = ("commands", "events", "state", "decider", "projection_rows")


@pytest.mark.parametrize("module", PURE)
def test_the_rules_import_nothing_but_other_rules_and_the_wire_form(module: str) -> None:
    tree = ast.parse((PACKAGE / "ledger" / f"{module}.py").read_text())
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("chatledger")
    }
    allowed = {f"chatledger.ledger.{name}" for name in (*PURE, "wire")} | {"chatledger.ledger"}
    assert imported <= allowed, imported - allowed
