"""Issue 19: exit codes mean what the README says, for every command.

0 ok, 1 only "a gate failed" / "records were skipped", 2 usage/data/config (and a disk or
permission error), 3 an internal error: one line, the traceback only with -v."""
from __future__ import annotations

import errno
import importlib
from pathlib import Path

import pytest

from rlhf_eval.cli import COMMANDS, main


def _break(monkeypatch, command, exc):
    module = importlib.import_module(COMMANDS[command][0])

    def run(args):
        raise exc

    monkeypatch.setattr(module, "run", run)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_bug_in_any_command_exits_3_with_one_line(command, capsys):
    """The handler every command runs under (main -> _run_command), for each command."""
    import argparse

    from rlhf_eval.cli import _run_command

    def run(args):
        raise ZeroDivisionError("division by zero")

    args = argparse.Namespace(command=command, _run=run, verbose=False)
    assert _run_command(args) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"rlhf-eval {command}: internal error: " in err
    assert "ZeroDivisionError" in err and "Traceback" not in err
    args._run = lambda a: 7  # an undocumented return code is a bug too
    assert _run_command(args) == 3


def test_a_bug_through_main_exits_3(monkeypatch, capsys):
    _break(monkeypatch, "report", ZeroDivisionError("division by zero"))
    assert main(["report"]) == 3
    assert "internal error" in capsys.readouterr().err


def test_verbose_shows_the_traceback(monkeypatch, capsys):
    _break(monkeypatch, "report", KeyError("boom"))
    assert main(["-v", "report"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError" in err


@pytest.mark.parametrize("exc", [OSError(errno.ENOSPC, "No space left on device", "out.md"),
                                 PermissionError(errno.EACCES, "Permission denied", "/x"),
                                 RecursionError("maximum recursion depth exceeded")])
def test_disk_permission_and_too_deep_input_exit_2(exc, monkeypatch, capsys):
    _break(monkeypatch, "report", exc)
    assert main(["report"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_library_calling_sys_exit_1_cannot_fake_a_gate_failure(monkeypatch, capsys):
    _break(monkeypatch, "report", SystemExit(1))
    assert main(["report"]) == 3


def test_usage_errors_exit_2_and_help_exits_0(capsys):
    assert main(["report", "--no-such-flag"]) == 2
    assert main(["no-such-command"]) == 2
    assert main([]) == 2
    assert main(["--help"]) == 0


def test_the_readme_documents_the_table():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Exit codes"):]
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |"):
        assert code in section
