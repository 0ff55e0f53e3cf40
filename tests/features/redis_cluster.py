"""A throwaway three-shard Redis Cluster for one test module: own free ports, own data dirs.

    with RedisClusterServers(tmp_path / "cluster") as cluster:
        cluster.url          # "127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3>" (Feast's connection string)
        cluster.ports        # the three nodes, each serving a third of the 16,384 hash slots

Three masters and no replicas: the least that is a real cluster (keys spread by hash slot, clients
redirected with MOVED), which is what the online store's readers must cope with.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.conftest import unavailable
from tests.serving.redis_server import RedisServer


def _cluster_port() -> int:
    """A free port whose bus port (+10000, Redis Cluster's node-to-node link) is free too; the
    kernel's ephemeral ports are too high for that, so pick in 20000-45000."""
    for _ in range(200):
        port = random.randint(20000, 45000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


class _ClusterNode(RedisServer):
    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.port = _cluster_port()

    def _args(self) -> list[str]:
        return [
            *super()._args(),
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(self.data_dir / "nodes.conf"),
            "--cluster-node-timeout",
            "2000",
        ]


class RedisClusterServers:
    """Three cluster-enabled redis-server processes joined with `redis-cli --cluster create`."""

    def __init__(self, root: Path, shards: int = 3, start_timeout_s: float = 20.0) -> None:
        self.cli = shutil.which("redis-cli")
        if self.cli is None:
            unavailable("redis-cli is not on PATH; install Redis to run this test")
        self.nodes = [_ClusterNode(root / f"node{i}") for i in range(shards)]
        self.start_timeout_s = start_timeout_s

    @property
    def ports(self) -> list[int]:
        return [n.port for n in self.nodes]

    @property
    def url(self) -> str:
        return ",".join(n.url for n in self.nodes)

    def _info(self, port: int) -> str:
        proc = subprocess.run(
            [str(self.cli), "-p", str(port), "cluster", "info"], capture_output=True, text=True, timeout=5
        )
        return proc.stdout

    def __enter__(self) -> RedisClusterServers:
        try:
            for node in self.nodes:
                node.start()
            created = subprocess.run(
                [str(self.cli), "--cluster", "create", *(n.url for n in self.nodes), "--cluster-replicas", "0"]
                + ["--cluster-yes"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert created.returncode == 0, created.stdout[-2000:] + created.stderr[-2000:]
            deadline = time.monotonic() + self.start_timeout_s
            while not all("cluster_state:ok" in self._info(p) for p in self.ports):
                assert time.monotonic() < deadline, f"cluster not ok within {self.start_timeout_s} s"
                time.sleep(0.1)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for node in self.nodes:
            node.kill()
