"""Open the dashboard in the browser: runs, correlations, samples, reward model, labeling.

Starts ``streamlit run dashboards/app.py`` bound to 127.0.0.1 (this machine only) unless
``--host`` (with ``--allow-remote``) says otherwise. Stores typed into the app are opened
only under the folder of ``--store``/``--run`` and any ``--root`` folders. The dashboard reads the results store read-only; only the Label page
writes, one pairwise judgment per transaction.

Examples:
  rlhf-eval dashboard --run runs/my-ppo              # reads runs/my-ppo/results.sqlite
  rlhf-eval dashboard --store results.sqlite --port 8600
  rlhf-eval dashboard --run runs/demo --print-command
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from ..errors import RlhfEvalError

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"


class DashboardError(RlhfEvalError):
    """The dashboard cannot be started as asked."""


def add_arguments(p) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument("--store", help="results store file (or a folder holding results.sqlite)")
    where.add_argument("--run", help="run folder; the store is RUN/results.sqlite")
    p.add_argument("--port", type=int, default=8501, help="port (default 8501)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: not reachable from other machines;"
                        " any other address needs --allow-remote)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a --host other than loopback: anyone who can reach the port can "
                        "read the stores under the allowed folders and add labels")
    p.add_argument("--root", action="append", default=[], metavar="DIR",
                   help="another folder whose stores the app may open (repeatable; default: "
                        "only the folder of --store/--run)")
    p.add_argument("--headless", action="store_true", help="do not open a browser window")
    p.add_argument("--print-command", action="store_true",
                   help="print the streamlit command line and exit")


def build_command(args, app: Path = APP) -> tuple[list[str], dict[str, str], Path]:
    """(argv, environment, store path) for ``streamlit run``."""
    from ..dashboard.source import ENV_ROOTS, ENV_STORE, store_path_for

    if not 0 < args.port < 65536:
        raise DashboardError(f"--port: expected 1-65535, found {args.port}")
    if not app.is_file():
        raise DashboardError(f"{app}: the dashboard app is missing (run from a checkout of "
                             "rlhf-eval, or reinstall it with `pip install -e .`)")
    store = store_path_for(args.store, args.run).resolve()
    roots = [store.parent] + [Path(r).resolve() for r in args.root]
    for root in roots[1:]:
        if not root.is_dir():
            raise DashboardError(f"--root {root}: not a folder")
    cmd = [sys.executable, "-m", "streamlit", "run", str(app),
           "--server.address", args.host, "--server.port", str(args.port),
           "--browser.gatherUsageStats", "false"]
    if args.headless:
        cmd += ["--server.headless", "true"]
    cmd += ["--", "--store", str(store)]
    env = dict(os.environ, **{ENV_STORE: str(store),
                              ENV_ROOTS: os.pathsep.join(str(r) for r in roots)})
    return cmd, env, store


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args) -> int:
    if not is_loopback(args.host) and not args.allow_remote:
        raise DashboardError(f"--host {args.host} would make the dashboard reachable from "
                             "other machines (it can add labels to the store); pass "
                             "--allow-remote to do that on purpose")
    cmd, env, store = build_command(args)
    if not is_loopback(args.host):
        print(f"rlhf-eval dashboard: WARNING: binding {args.host}: anyone who can reach port "
              f"{args.port} can read the results under {env['RLHF_EVAL_ROOTS']} and add "
              "labels; there is no login", file=sys.stderr)
    if args.print_command:
        print(shlex.join(cmd))
        return 0
    if not store.is_file():
        print(f"rlhf-eval dashboard: note: no results store at {store} yet; the pages will say "
              "how to produce one", file=sys.stderr)
    print(f"rlhf-eval dashboard: http://{args.host}:{args.port}  (store: {store})",
          file=sys.stderr)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0
