"""A private server never loses its port to a race: when the port it was given is taken
before it binds it, its first start moves to a new port, and a restart keeps its port.

Each test provokes the race for real: it takes the port the server drew (a listening socket
on 127.0.0.1, as another process's server would) before starting the server.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from tests.private_servers import PortTaken, PrivatePostgres, PrivateRedis


@contextmanager
def taken(port: int) -> Iterator[None]:
    """Hold *port* on loopback (listening) for the block."""
    with socket.create_server(("127.0.0.1", port)):
        yield


def test_redis_moves_to_a_new_port_when_its_port_is_taken() -> None:
    server = PrivateRedis()
    stolen = server.port
    try:
        with taken(stolen):
            server.start()
            client = server.client()
            try:
                assert client.ping()
            finally:
                client.close()
        assert server.port != stolen
    finally:
        server.cleanup()


def test_cluster_node_moves_when_its_bus_port_is_taken() -> None:
    node = PrivateRedis(cluster=True)
    port, stolen_bus = node.port, node.bus_port
    try:
        with taken(stolen_bus):
            node.start()
            client = node.client()
            try:
                assert client.info("cluster")["cluster_enabled"] == 1
            finally:
                client.close()
        assert node.bus_port != stolen_bus
        assert node.port != port  # a new draw moves both ports
    finally:
        node.cleanup()


def test_postgres_moves_to_a_new_port_when_its_port_is_taken() -> None:
    server = PrivatePostgres().init()
    stolen = server.port
    try:
        with taken(stolen):
            server.start()
            assert server.query("SELECT 1") == [(1,)]
        assert server.port != stolen
    finally:
        server.cleanup()


def test_a_restart_keeps_its_port_and_says_when_it_is_taken() -> None:
    server = PrivateRedis()
    try:
        server.start()
        port = server.port
        server.kill()
        with taken(port), pytest.raises(PortTaken, match="Address already in use"):
            server.start()  # clients know this port: the server must not move
        server.start()
        assert server.port == port
        client = server.client()
        try:
            assert client.ping()
        finally:
            client.close()
    finally:
        server.cleanup()
