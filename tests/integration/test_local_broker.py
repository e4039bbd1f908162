"""The local broker: idempotent start, status, stop, and a clear error on a taken port."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from processor.broker import BrokerError, LocalBroker
from processor.cli import main
from tests.conftest import _free_port


def test_up_is_idempotent_and_down_stops_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broker = LocalBroker(tmp_path, _free_port(), _free_port())
    try:
        address = broker.up(timeout_s=180)
        first_pid = broker.status().pid
        assert broker.up(timeout_s=30) == address
        assert broker.status().pid == first_pid
        flags = ["--home", str(tmp_path), "--port", str(broker.port)]
        assert main(["broker", "status", *flags]) == 0
        assert f"running pid={first_pid} bootstrap={address}" in capsys.readouterr().out
    finally:
        assert broker.down()
    assert not broker.status().running
    assert main(["broker", "status", "--home", str(tmp_path)]) == 3


def test_a_port_in_use_is_refused_with_the_port_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(BrokerError, match=f"port {port} "):
            LocalBroker(tmp_path, port, _free_port()).up(timeout_s=10)
