"""``mipnn solvers``: every solver, available or why not, version, licence, capabilities."""

from __future__ import annotations

import json


def add_parsers(sub) -> None:
    p = sub.add_parser("solvers", help="list solvers: available or why not, version, licence, capabilities")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_solvers)


def solver_rows() -> list[dict]:
    from mipnn_pyomo.solvers import SOLVERS

    rows = []
    for name, cls in SOLVERS.items():
        ok, reason = cls.availability()
        flags = [k for k, v in vars(cls.capabilities).items() if v]
        rows.append({
            "solver": name.value,
            "available": ok,
            "reason": reason,
            "version": cls.version() if ok else None,
            "licence": cls.licence_info() if ok else None,
            "capabilities": flags,
        })
    return rows


def cmd_solvers(args) -> int:
    rows = solver_rows()
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        state = f"available, version {r['version']}" if r["available"] else f"NOT available: {r['reason']}"
        print(f"{r['solver']:7s} {state}")
        if r["available"]:
            print(f"        licence: {r['licence']}")
        print(f"        capabilities: {', '.join(r['capabilities'])}")
    return 0
