"""The layer contract of docs/ARCHITECTURE.md, checked on the real import graph (grimp reads
every ``import`` statement, including the ones inside functions, without importing anything).

- ``evaluation`` never imports ``training`` or ``lab`` (the lab plugs into the metric registry);
- ``training`` never imports ``evaluation``;
- the floor (``lm``, ``rm``, ``runs``, ``stats``, ``store``) imports none of ``training``,
  ``evaluation``, ``lab``, ``dashboard``, ``commands``;
- no two modules of the package import each other, directly or through others.
"""
from __future__ import annotations

import grimp
import pytest

PKG = "rlhf_eval"
FLOOR = ("lm", "rm", "runs", "stats", "store")
UPPER = ("training", "evaluation", "lab", "dashboard", "commands")
FORBIDDEN = [("evaluation", "training"), ("evaluation", "lab"), ("training", "evaluation")] + \
    [(low, up) for low in FLOOR for up in UPPER]


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(PKG, include_external_packages=False, cache_dir=None)


def _module(graph, name: str) -> str:
    full = f"{PKG}.{name}"
    assert full in graph.modules, f"{full} is not a module of the package any more"
    return full


@pytest.mark.parametrize("importer, imported", FORBIDDEN)
def test_layer_never_imports_upward(graph, importer, imported):
    a, b = _module(graph, importer), _module(graph, imported)
    chains = graph.find_shortest_chains(importer=a, imported=b, as_packages=True)
    assert not chains, f"{importer} must not import {imported}: " + "; ".join(
        " -> ".join(chain) for chain in sorted(chains))


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_no_import_cycles(graph):
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    # the check above must be able to fail: a two-module cycle built in memory
    g = grimp.ImportGraph()
    for m in ("p", "p.a", "p.b", "p.c"):
        g.add_module(m)
    g.add_import(importer="p.a", imported="p.b")
    g.add_import(importer="p.b", imported="p.a")
    g.add_import(importer="p.c", imported="p.a")
    assert _cycles(g) == [["p.a", "p.b"]]
    assert g.find_shortest_chains(importer="p.c", imported="p.b", as_packages=True)
