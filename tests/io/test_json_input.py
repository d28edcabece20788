"""JSON configurations read from disk: every malformed file is one InputError naming it."""

import errno
import os
import threading
import time

import pytest

from benchmark.errors import InputError
from benchmark.models import UNetConfig

DEEP = "[" * 200_000 + "]" * 200_000


@pytest.mark.parametrize("text", [DEEP, '{"num_channels": ' + DEEP + "}", "{" + '"a":{' * 100_000 + "}" * 100_001])
def test_deeply_nested_config_is_one_clear_error(tmp_path, text):
    with pytest.raises(InputError, match="nested too deeply"):
        UNetConfig.from_json(text, "c.json")
    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(InputError, match="nested too deeply") as err:
        UNetConfig.load(path)
    assert str(path) in str(err.value)


def unblock_readers(fifo, after: float = 3.0, deadline: float = 30.0) -> None:
    """If something opened `fifo` for reading (and blocks), open it for writing and close it: the reader sees EOF."""

    def run():
        time.sleep(after)
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                return
            except OSError as exc:  # ENXIO: nobody is reading, as it should be
                if exc.errno != errno.ENXIO:
                    return
                time.sleep(0.2)

    threading.Thread(target=run, daemon=True).start()


@pytest.mark.parametrize("kind,message", [("fifo", "FIFO"), ("binary", "not UTF-8")])
def test_config_that_is_not_a_text_file_is_refused(tmp_path, kind, message):
    path = tmp_path / "c.json"
    if kind == "fifo":
        os.mkfifo(path)
        unblock_readers(path)  # a reader that opens it would otherwise block forever
    else:
        path.write_bytes(b"\xff\xfe\x00{")
    with pytest.raises(InputError, match=message) as err:
        UNetConfig.load(path)
    assert str(path) in str(err.value)
