"""Issue 19, finding 7: the dashboard opens stores only under the folders it was started
with, and binding anything but loopback needs --allow-remote (and warns)."""
from __future__ import annotations

import shutil

import pytest

from dashboard_helpers import APP
from rlhf_eval.cli import main
from rlhf_eval.dashboard import source
from rlhf_eval.store import ResultsStore


def _labels(path):
    with ResultsStore(path, readonly=True) as store:
        return len(store.pairwise_labels())


def test_a_store_typed_outside_the_roots_is_refused_and_never_written(
        writable_store, tmp_path_factory, monkeypatch):
    from streamlit.testing.v1 import AppTest

    other = tmp_path_factory.mktemp("elsewhere") / "results.sqlite"
    shutil.copy(writable_store, other)
    n_other = _labels(other)
    # as `rlhf-eval dashboard --store <writable_store>` starts it
    monkeypatch.setenv(source.ENV_STORE, str(writable_store))
    monkeypatch.setenv(source.ENV_ROOTS, str(writable_store.parent.resolve()))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.switch_page("views/label.py")
    at.run()
    assert not at.error
    box = [t for t in at.text_input if t.label == "Results store (SQLite file)"][0]
    box.set_value(str(other)).run()
    assert at.error and "outside the folders" in at.error[0].value
    assert not [b for b in at.button if b.label == "Left is better"]  # no labeling UI
    box.set_value(str(writable_store.parent / ".." / other.parent.name / other.name)).run()
    assert at.error  # '..' does not get around it
    assert _labels(other) == n_other


def test_roots_and_their_checks(tmp_path):
    roots = source.configured_roots([], {source.ENV_ROOTS: f"{tmp_path}/a:{tmp_path}/b"})
    assert roots == [(tmp_path / "a").resolve(), (tmp_path / "b").resolve()]
    assert source.configured_roots(["--store", str(tmp_path / "x" / "s.sqlite")], {}) == \
        [(tmp_path / "x").resolve()]
    assert source.configured_roots([], {}) is None
    ok = source.check_under_roots(tmp_path / "a" / "r" / "results.sqlite", roots)
    assert ok == (tmp_path / "a" / "r" / "results.sqlite").resolve()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "link").symlink_to("/etc")
    for bad in (tmp_path / "c.sqlite", tmp_path / "a" / ".." / "c.sqlite",
                tmp_path / "a" / "link" / "passwd", "/etc/passwd"):
        with pytest.raises(source.OutsideRoots):
            source.check_under_roots(bad, roots)


def test_remote_bind_needs_the_flag_and_warns(tmp_path, capsys):
    assert main(["dashboard", "--run", str(tmp_path), "--host", "0.0.0.0",
                 "--print-command"]) == 2
    assert "--allow-remote" in capsys.readouterr().err
    assert main(["dashboard", "--run", str(tmp_path), "--host", "0.0.0.0", "--allow-remote",
                 "--print-command", "--root", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "WARNING" in captured.err and "0.0.0.0" in captured.out
    assert main(["dashboard", "--run", str(tmp_path), "--host", "::1",
                 "--print-command"]) == 0


def test_a_typed_correlation_folder_outside_the_roots_is_refused(writable_store, tmp_path_factory,
                                                                 monkeypatch):
    from streamlit.testing.v1 import AppTest

    outside = tmp_path_factory.mktemp("outside")
    monkeypatch.setenv(source.ENV_STORE, str(writable_store))
    monkeypatch.setenv(source.ENV_ROOTS, str(writable_store.parent.resolve()))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.switch_page("views/correlations.py")
    at.run()
    [r for r in at.radio if r.label == "Data"][0].set_value("file").run()
    [t for t in at.text_input if t.label.startswith("correlations.json")][0].set_value(
        str(outside)).run()
    assert at.error and "outside the folders" in at.error[0].value
