"""Count the import cycles of a source tree: every import counts, deferred and TYPE_CHECKING ones too.

    python scripts/import_cycles.py            # this checkout's src/
    python scripts/import_cycles.py OLD/src    # another tree, e.g. `git archive REV src | tar -x -C OLD`

A cycle is a strongly connected component of the module graph with more than one module; the
script prints each with its modules. `lint-imports` (make lint) enforces that there are none.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PACKAGE = "videoapi"


def components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            advanced = False
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                member = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    member.append(top)
                    if top == node:
                        break
                if len(member) > 1:
                    found.append(sorted(member))
    return found


def module_graph() -> dict[str, set[str]]:
    import grimp

    # grimp reads every import statement, in functions and under TYPE_CHECKING included.
    graph = grimp.build_graph(PACKAGE, include_external_packages=False, cache_dir=None)
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def main() -> int:
    if len(sys.argv) > 1 and os.environ.get("IMPORT_CYCLES_CHILD") != "1":
        # Another tree: a child without site's .pth files (this checkout's editable install),
        # with that tree's src first and this environment's packages after it.
        src = str(Path(sys.argv[1]).resolve())
        packages = [p for p in sys.path if p.endswith("site-packages")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, *packages]), "IMPORT_CYCLES_CHILD": "1"}
        return subprocess.call([sys.executable, "-S", __file__], env=env)
    import importlib.util

    spec = importlib.util.find_spec(PACKAGE)
    graph = module_graph()
    cycles = components(graph)
    print(f"{PACKAGE} from {Path(spec.origin).parent if spec and spec.origin else '?'}: {len(graph)} modules")
    print(f"import cycles: {len(cycles)}, covering {sum(len(c) for c in cycles)} modules")
    for cycle in sorted(cycles, key=len, reverse=True):
        print(f"  {len(cycle):3d}: " + ", ".join(m.removeprefix(PACKAGE + ".") for m in cycle))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
