"""The layers of chatledger/ (its package docstring) import only the layers before them."""

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "chatledger"

# Each layer may import itself and the layers of lower rank; equal ranks are peers that never
# import each other.
RANK = {
    "platform": 0,
    "domain": 1,
    "bus": 2,
    "ledger": 3,
    "readmodels": 4,
    "history": 5,
    "web": 6,
    "api": 7,
    "gateway": 7,
    "service": 8,
    "cli": 9,
    "__main__": 10,
}


def imported_modules(path: Path) -> set[str]:
    """Every chatledger module `path` imports: `from chatledger.a import b`, `from chatledger
    import a` and `import chatledger.a` alike."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            module = node.module or ""
            if module == "chatledger":
                found |= {f"chatledger.{alias.name}" for alias in node.names}
            elif module.startswith("chatledger."):
                found.add(module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("chatledger.")}
    return found


def layer_edges() -> dict[str, set[str]]:
    """Layer of chatledger/ -> the layers it imports."""
    edges: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        part = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if part == "__init__":
            continue
        for module in imported_modules(path):
            target = module.split(".")[1]
            if target != part:
                edges[part].add(target)
    return edges


def test_every_part_of_the_package_is_a_known_layer() -> None:
    parts = {
        p.name.removesuffix(".py")
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.name != "__init__.py"
    }
    assert parts == set(RANK), parts ^ set(RANK)


def test_each_layer_imports_only_the_layers_before_it() -> None:
    wrong = {
        (part, target)
        for part, targets in layer_edges().items()
        for target in targets
        if RANK[target] >= RANK[part]
    }
    assert not wrong, sorted(wrong)


def test_a_from_chatledger_import_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "probe.py"
    path.write_text(
        "from chatledger import demo\n"
        "from chatledger.api import app\n"
        "import chatledger.web.keys\n"
    )
    assert imported_modules(path) == {"chatledger.demo", "chatledger.api", "chatledger.web.keys"}


@pytest.mark.parametrize("path", sorted((PACKAGE / "domain").glob("*.py")), ids=lambda p: p.name)
def test_the_domain_imports_nothing_but_itself(path: Path) -> None:
    outside = {m for m in imported_modules(path) if not m.startswith("chatledger.domain")}
    assert not outside, outside


def test_projection_rows_are_pure() -> None:
    outside = {
        m for m in imported_modules(PACKAGE / "ledger" / "projection_rows.py")
        if not m.startswith("chatledger.domain")
    }
    assert not outside, outside
