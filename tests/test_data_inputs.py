"""Input channels and encodings: '-', FIFOs, process substitution, BOMs, UTF-16, Latin-1, intraday rows."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading

import pytest

from marketcast.data import read_prices
from marketcast.errors import DataError

CSV = "Date,Close\n2020-01-02,10.5\n2020-01-03,11\n2020-01-06,12\n"


def _closes(data):
    return data.frame["close"].tolist()


@pytest.mark.parametrize("encoding,prefix", [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16", b""),
                                             ("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"), ("latin-1", b"")])
def test_encodings(tmp_path, encoding, prefix):
    text = CSV.replace("Close", "Close") + ""
    path = tmp_path / "p.csv"
    path.write_bytes(prefix + text.replace("Date", "Date").encode(encoding))
    assert _closes(read_prices(path)) == [10.5, 11.0, 12.0]


def test_latin1_text_column_is_decoded(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes("Date,Close,Bourse\n2020-01-02,10.5,Société\n2020-01-03,11,Zürich\n".encode("latin-1"))
    assert _closes(read_prices(path)) == [10.5, 11.0]


def test_latin1_after_the_first_block_is_decoded(tmp_path):
    rows = "".join(f"2020-01-{d:02d},{d},x\n" for d in range(1, 29)) * 1
    body = ("Date,Close,Note\n" + rows).encode() + "".join(f"{2021}-02-{d:02d},{d},café\n" for d in range(1, 28)).encode("latin-1")
    path = tmp_path / "p.csv"
    path.write_bytes(body + b"".join(f"2022-03-{d:02d},{d},{'y' * 400}\n".encode() for d in range(1, 29)))
    assert len(read_prices(path).frame) == 28 + 27 + 28


def test_utf16_without_bom_and_binary_are_named(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(CSV.encode("utf-16-le"))
    with pytest.raises(DataError, match="UTF-16 text without a byte-order mark"):
        read_prices(path)
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataError, match="p.csv: not a text file"):
        read_prices(path)


def test_dash_reads_standard_input(monkeypatch):
    fake = io.TextIOWrapper(io.BytesIO(CSV.encode("utf-16")))
    monkeypatch.setattr(sys, "stdin", fake)
    data = read_prices("-")
    assert _closes(data) == [10.5, 11.0, 12.0] and data.name == "<stdin>"


def test_fifo_is_read(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)

    def feed():
        with open(fifo, "w") as fh:
            fh.write(CSV)

    t = threading.Thread(target=feed)
    t.start()
    try:
        assert _closes(read_prices(fifo)) == [10.5, 11.0, 12.0]
    finally:
        t.join(5)


def test_empty_fifo_is_empty_not_a_crash(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    t = threading.Thread(target=lambda: open(fifo, "w").close())
    t.start()
    with pytest.raises(DataError, match="pipe.csv: file is empty"):
        read_prices(fifo)
    t.join(5)


def test_process_substitution_through_the_cli(tmp_path):
    src = tmp_path / "p.csv"
    src.write_text(CSV)
    cmd = (f'"{sys.executable}" -c "import sys; from marketcast.cli import main; sys.exit(main())" '
           f'data check <(cat "{src}") --json')
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 0, out.stderr
    assert '"rows": 3' in out.stdout


def _minute_bars(path, days=3, per_day=13):
    with open(path, "w") as fh:
        fh.write("timestamp,open,high,low,close,volume\n")
        for d in range(days):
            for k in range(per_day):
                minutes = 9 * 60 + 30 + 30 * k
                fh.write(f"2000-01-{d + 3:02d} {minutes // 60}:{minutes % 60:02d}:00,1,2,0.5,{d + 1}.{k:02d},100\n")


def test_intraday_rows_are_refused_with_a_line_that_says_so(tmp_path):
    path = tmp_path / "m.csv"
    _minute_bars(path)
    with pytest.raises(DataError, match=r"m.csv: intraday data \(several rows per day, e.g. 2000-01-03 9:30:00 and "
                                        r"2000-01-03 10:00:00\).*--daily-closes"):
        read_prices(path)


def test_intraday_rows_taken_to_daily_closes(tmp_path):
    path = tmp_path / "m.csv"
    _minute_bars(path)
    data = read_prices(path, intraday="close")
    # 9:30 < 10:00 < ... by time of day, not as text ("9:30" > "15:30")
    assert _closes(data) == [1.12, 2.12, 3.12]
    assert list(data.frame.columns) == ["close"]
    assert "taken to daily closes" in data.notes[0] and "dropped open, high, low, volume" in data.notes[0]


def test_intraday_newest_first_and_late_in_the_file(tmp_path):
    # The first rows are one per day; intraday rows come later: still recognised (full parse).
    path = tmp_path / "m.csv"
    rows = [f"2000-01-{d:02d} 16:00:00,{d}" for d in range(3, 8)] + ["2000-01-10 09:30:00,9", "2000-01-10 16:00:00,10"]
    path.write_text("Date,Close\n" + "\n".join(reversed(rows)) + "\n")
    with pytest.raises(DataError, match="intraday data"):
        read_prices(path)
    assert _closes(read_prices(path, intraday="close"))[-1] == 10.0


def test_daily_files_with_midnight_times_are_daily(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("Date,Close\n2020-01-02 00:00:00,1\n2020-01-03 00:00:00,2\n2020-01-06 00:00:00,3\n")
    assert _closes(read_prices(path)) == [1.0, 2.0, 3.0]
