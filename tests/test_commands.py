"""The command line: every registered subcommand imports and documents itself."""
import importlib
import subprocess
import sys

from rlhf_eval.cli import COMMANDS, build_parser, main


def test_every_command_module_exists_and_has_the_interface():
    for name, (module_name, _help) in COMMANDS.items():
        module = importlib.import_module(module_name)
        assert callable(module.add_arguments) and callable(module.run), name
        assert module.__doc__, f"{module_name} needs a docstring: it is the command's --help"


def test_help_lists_every_subcommand():
    out = subprocess.run([sys.executable, "-m", "rlhf_eval.cli", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for name in COMMANDS:
        assert name in out


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_help_does_not_import_torch():
    code = ("import sys; from rlhf_eval.cli import build_parser; build_parser(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "a command module imports torch at import time"
