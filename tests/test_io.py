"""Atomic writes, and what a killed write leaves behind: removed by the next write to the same target."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from marketcast.io import remove_leftovers, temporary_prefix, write_table


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _killed_while_writing(code: str, cwd) -> None:
    """Run ``code`` in a fresh interpreter that kills itself with SIGKILL inside the write."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def test_a_table_write_killed_midway_leaves_a_file_the_next_write_removes(tmp_path):
    _killed_while_writing(
        """
        import os, signal
        import pandas as pd
        import marketcast.io as io
        frame = pd.DataFrame({"x": [1.0]})
        def write(tmp):
            open(tmp, "w").write("x\\n1")  # half a table
            os.kill(os.getpid(), signal.SIGKILL)
        io._atomic_replace(io.check_output_path("out.csv"), write)
        """,
        tmp_path,
    )
    left = sorted(p.name for p in tmp_path.iterdir())
    assert len(left) == 1 and left[0].startswith(".out.csv.mctmp-") and left[0].endswith(".tmp")
    write_table(pd.DataFrame({"x": [1.0, 2.0]}), tmp_path / "out.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    assert pd.read_csv(tmp_path / "out.csv")["x"].tolist() == [1.0, 2.0]


@pytest.mark.slow
def test_a_model_save_killed_midway_leaves_a_folder_the_next_save_removes(tmp_path):
    _killed_while_writing(
        """
        import os, signal
        import numpy as np
        import safetensors.numpy
        import marketcast as mc
        prices = mc.load_prices(__import__("pandas").Series(np.linspace(10, 20, 300)))
        model = mc.get_model("xgboost", window=5, seed=0).fit(prices)
        def killed(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        safetensors.numpy.save_file = killed
        mc.save_model(model, "m")
        """,
        tmp_path,
    )
    left = [p for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].is_dir() and left[0].name.startswith(".m.mctmp-")
    import numpy as np

    import marketcast as mc

    model = mc.get_model("sma", window=5).fit(mc.load_prices(pd.Series(np.linspace(10, 20, 50))))
    mc.save_model(model, tmp_path / "m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_only_this_targets_leftovers_of_dead_processes_go(tmp_path):
    dead, alive = _dead_pid(), os.getppid()
    target = tmp_path / "vol.csv"
    names = {
        f".vol.csv.mctmp-{dead}.abcd_123.tmp": True,  # a killed run's temporary file
        f".vol.csv.mctmp-{dead}.x1y2z3w4": True,  # a killed run's temporary folder
        f".vol.csv.mctmp-{alive}.abcd_123.tmp": False,  # a write still running elsewhere
        f".vol.csv.x.mctmp-{dead}.abcd_123.tmp": False,  # another target's (vol.csv.x)
        f".other.csv.mctmp-{dead}.abcd_123.tmp": False,
        ".vol.csv.mctmp-99999999999999999999.abcdefgh.tmp": False,  # not a process id: left alone
        f".vol.csv.{dead}.abcd_123.tmp": False,  # a user's file of a similar form, without the marker
        ".vol.csv.20240101.snapshot": False,
        ".vol.csv.notes": False,
        "vol.csv.bak": False,
    }
    for name in names:
        path = tmp_path / name
        path.mkdir() if "x1y2" in name else path.write_text("")
    (tmp_path / ".vol.csv.20240101.snapshot").unlink()
    (tmp_path / ".vol.csv.20240101.snapshot").mkdir()  # a user's folder: never removed
    (tmp_path / ".vol.csv.20240101.snapshot" / "keep").write_text("")
    removed = {p.name for p in remove_leftovers(target)}
    assert removed == {n for n, gone in names.items() if gone}
    assert {p.name for p in tmp_path.iterdir()} == {n for n, gone in names.items() if not gone}


def test_temporary_names_carry_the_process_id(tmp_path):
    assert temporary_prefix(tmp_path / "a.csv") == f".a.csv.mctmp-{os.getpid()}."
