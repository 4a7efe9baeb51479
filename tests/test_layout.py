"""The package's import graph: no cycle, and no import that runs back up the flow (README, Layout)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"debris": ROOT / "pipeline", "debris.models": ROOT / "models", "debris.configs": ROOT / "configs"}
# Each module may import from its own layer and the layers before it. config is the schema of every
# command, so it sits above the formats whose names it validates (label.formats are SINKS' keys).
LAYERS = [
    ["debris", "debris.configs", "debris.detections", "debris.labels", "debris.boxes", "debris.errors", "debris.preprocess",
     "debris.geo"],
    ["debris.io"],
    ["debris.formats", "debris.models", "debris.synth.families"],  # families: the names synth.families may use
    ["debris.config"],
    ["debris.viz"],
    ["debris.synth", "debris.infer"],
    ["debris.eval"],
    ["debris.train"],
    ["debris.cli"],
]


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            if "weights" in path.parts:
                continue
            parts = path.relative_to(folder).with_suffix("").parts
            found[".".join((package, *[p for p in parts if p != "__init__"]))] = path
    return found


def imports(path: Path, known: set[str]) -> set[str]:
    """The debris modules a file imports, anywhere in it (deferred imports included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("debris"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.add(full if full in known else node.module)
        elif isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names if alias.name.startswith("debris")}
    return out


def layer(module: str) -> int:
    best = max((name for names in LAYERS for name in names if module == name or module.startswith(name + ".")), key=len)
    return next(i for i, names in enumerate(LAYERS) if best in names)


def graph() -> dict[str, set[str]]:
    """Module -> the debris modules it imports. The package's own __init__ is the public front door
    (`from debris import Detector`, imported lazily) and stands outside the flow, as source and target."""
    found = modules()
    return {name: imports(path, set(found)) - {name, "debris"} for name, path in found.items() if name != "debris"}


def test_the_import_graph_has_no_cycle():
    edges, state, cycles = graph(), {}, []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(nxt_ := node, set())):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[nxt_] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_no_import_runs_back_up_the_flow():
    upward = [f"{a} -> {b}" for a, targets in graph().items() for b in targets
              if layer(b) > layer(a)]
    assert upward == []
