"""relkd's packages import one way: a module imports only from its own package or from the
packages of a lower layer (function-local imports included)."""

from __future__ import annotations

import ast
import os

from .conftest import REPO

PACKAGE = os.path.join(REPO, "projects", "relkd")
# lowest first; packages of one layer do not import each other
LAYERS = [
    {"utils", "data", "config"},  # helpers, the dataset, the yacs defaults: nothing of relkd
    {"losses"},  # pure loss functions
    {"layers"},  # trainable distillation modules, box helpers
    {"distillers", "modeling"},  # distillers; models detectron2 lacks (DAB-DETR, ResNet stages)
    {"loading"},  # config files and checkpoints
    {"teacher"},
    {"meta_arch"},  # the distilling detectors
    {"engine", "export"},  # the training loop; deployment
    {"bench"},  # the code of the command-line tools: runs, benchmarks, pictures
    {"__init__"},  # the package's public names
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _unit(module: str) -> str:
    """``relkd.meta_arch.distill`` -> ``meta_arch``; ``relkd`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: str, module: str) -> set[str]:
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target] + [f"{target}.{a.name}" for a in node.names] * (not node.module)
            found |= {n for n in names if n.split(".")[0] == "relkd"}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "relkd"}
    return found


def import_edges() -> list[tuple[str, str]]:
    """``(module, imported relkd module)`` for every import in the package."""
    edges = []
    for root, _, files in os.walk(PACKAGE):
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, os.path.dirname(PACKAGE))[:-3].replace(os.sep, ".")
            module = rel.removesuffix(".__init__")
            edges += [(module, target) for target in sorted(_imports(path, module))]
    return edges


def test_every_package_has_a_layer():
    units = {_unit(m) for e in import_edges() for m in e}
    assert units <= set(RANK), sorted(units - set(RANK))


def test_no_import_goes_up_or_across_a_layer():
    bad = [
        f"{a} -> {b}"
        for a, b in import_edges()
        if _unit(a) != _unit(b) and RANK[_unit(b)] >= RANK[_unit(a)]
    ]
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_the_check_sees_an_upward_import(tmp_path):
    # the parser must resolve relative imports, or the test above could pass on anything
    path = tmp_path / "mod.py"
    path.write_text("from ..meta_arch import distill\nfrom . import adapters\n")
    assert _imports(str(path), "relkd.layers.mod") == {
        "relkd.meta_arch",
        "relkd.layers",
        "relkd.layers.adapters",
    }
