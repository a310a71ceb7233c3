"""Options, and the refusal of non-loopback targets."""

from __future__ import annotations

import pytest

from scripts.loadtest.cli import RemoteTargetError, check_loopback, parse_args


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://127.9.8.7:1", "http://localhost:8000", "http://[::1]:8000"])
def test_loopback_targets_are_accepted(url):
    check_loopback(url)


@pytest.mark.parametrize("url", ["http://8.8.8.8:8000", "http://10.0.0.1", "http://[2001:db8::1]:80", "http://0.0.0.0:80"])
def test_other_targets_are_refused(url):
    with pytest.raises(RemoteTargetError, match="--allow-remote"):
        check_loopback(url)


def test_allow_remote_lifts_the_refusal():
    check_loopback("http://8.8.8.8:8000", allow_remote=True)
    assert parse_args(["m", "--url", "http://8.8.8.8:8000", "--allow-remote"]).allow_remote


def test_the_command_line_refuses_a_remote_target(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["m", "--url", "http://8.8.8.8:8000"])
    assert exit_info.value.code == 2
    assert "non-loopback ['8.8.8.8']" in capsys.readouterr().err


def test_defaults_are_a_closed_loop_sweep():
    args = parse_args(["digits"])
    assert (args.concurrency, args.rate, args.payload) == ([1, 4, 16, 64], None, "binary")
    assert args.transport == "raw"
    assert parse_args(["digits", "--transport", "httpx"]).transport == "httpx"


def test_rate_sweep_and_lists_are_parsed():
    args = parse_args(["m", "--rate", "100,500,1000", "--arrival", "poisson"])
    assert (args.rate, args.concurrency, args.arrival) == ([100.0, 500.0, 1000.0], None, "poisson")


@pytest.mark.parametrize("argv", [["m", "--concurrency", "1,x"], ["m", "--concurrency", "0"],
                                  ["m", "--rate", "10", "--concurrency", "1"], ["m", "--plot"],
                                  ["m", "--duration", "0"], ["m", "--processes", "0"],
                                  ["m", "--transport", "curl"]])
def test_bad_options_exit_with_usage(argv):
    with pytest.raises(SystemExit):
        parse_args(argv)


def test_grpc_protocol_options(capsys):
    args = parse_args(["digits", "--protocol", "grpc", "--grpc-url", "127.0.0.1:9001"])
    assert (args.protocol, args.grpc_url, parse_args(["digits"]).protocol) == ("grpc", "127.0.0.1:9001", "http")
    with pytest.raises(SystemExit):
        parse_args(["digits", "--protocol", "grpc", "--payload", "friendly"])
    assert "--payload friendly is REST only" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["digits", "--protocol", "grpc", "--grpc-url", "8.8.8.8:8001"])
    assert "non-loopback ['8.8.8.8']" in capsys.readouterr().err
