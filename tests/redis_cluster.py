"""A Redis Cluster the tests start for themselves: six `redis-server --cluster-enabled yes` on free
loopback ports (three masters, three replicas) joined by `redis-cli --cluster create
--cluster-replicas 1`, in a temporary folder, each killed and removed after.

The nodes time out a silent peer after one second (`cluster-node-timeout 1000`), so a killed
master's replica takes its slots over within a few seconds. Where redis-server or redis-cli is
missing the tests skip, and under CI=true they fail instead."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.cluster import key_slot

from tests.processes import required

NODE_TIMEOUT_MS = 1000


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _cluster_ports(count: int) -> list[int]:
    """Ports whose cluster bus port (the port + 10000) is free as well."""
    ports: list[int] = []
    for port in range(21000, 29000, 7):
        if _free(port) and _free(port + 10000):
            ports.append(port)
            if len(ports) == count:
                return ports
    raise RuntimeError("no free ports for a Redis Cluster")


@dataclass
class RedisNode:
    port: int
    process: subprocess.Popen[bytes]

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=1.0, socket_connect_timeout=1.0)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no goodbye to the cluster, as a crashed machine."""
        self.process.kill()
        self.process.wait(5)


@dataclass
class Cluster:
    nodes: list[RedisNode]
    folder: Path
    killed: list[RedisNode] = field(default_factory=list)

    @property
    def url(self) -> str:
        """One node's URL, as APP_REDIS_URL names the cluster."""
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def node(self, port: int) -> RedisNode:
        return next(n for n in self.nodes if n.port == port)

    def master_of(self, key: str) -> RedisNode:
        """The node that serves the key's slot now, as a live node sees the cluster."""
        slot = key_slot(key.encode())
        with self._live().client() as client:
            for start, end, master, *_ in client.execute_command("CLUSTER SLOTS"):
                if start <= slot <= end:
                    return self.node(int(master[1]))
        raise LookupError(f"no node serves slot {slot}")

    def masters(self) -> list[RedisNode]:
        with self._live().client() as client:
            return [self.node(int(m[1])) for _, _, m, *_ in client.execute_command("CLUSTER SLOTS")]

    def kill(self, node: RedisNode) -> None:
        node.kill()
        self.killed.append(node)

    def wait_until_served(self, key: str, timeout: float = 20.0) -> RedisNode:
        """Until a live master serves the key's slot (after a failover: the promoted replica)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                node = self.master_of(key)
                if node.alive():
                    with node.client() as client:
                        if client.execute_command("CLUSTER INFO").get("cluster_state") == "ok":
                            return node
            except (redis.RedisError, LookupError, StopIteration):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"no live master serves {key!r} after {timeout} s")

    def flush(self) -> None:
        for node in self.masters():
            with node.client() as client:
                client.flushall()

    def calls(self, command: str) -> int:
        """How many times the live nodes ran a command (INFO commandstats)."""
        total = 0
        for node in self.nodes:
            if node.alive():
                with node.client() as client:
                    total += int(client.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))
        return total

    def _live(self) -> RedisNode:
        return next(n for n in self.nodes if n.alive())


def _start(port: int, folder: Path) -> RedisNode:
    where = folder / str(port)
    where.mkdir()
    process = subprocess.Popen(
        [
            "redis-server",
            *("--port", str(port), "--bind", "127.0.0.1"),
            *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
            *("--cluster-node-timeout", str(NODE_TIMEOUT_MS)),
            *("--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0"),
        ],
        cwd=where,
        stdout=subprocess.DEVNULL,
    )
    node = RedisNode(port, process)
    for _ in range(100):
        try:
            with node.client() as client:
                client.ping()
            return node
        except redis.RedisError:
            time.sleep(0.05)
    raise RuntimeError(f"redis-server on {port} did not start")


@contextmanager
def redis_cluster(masters: int = 3) -> Iterator[Cluster]:
    """`masters` masters with a replica each, joined into one cluster, every slot covered."""
    for program in ("redis-server", "redis-cli"):
        required(shutil.which(program), f"a Redis Cluster test needs {program} (Debian: redis-tools)")
    nodes: list[RedisNode] = []
    with tempfile.TemporaryDirectory(prefix="redis-cluster-") as folder:
        try:
            for port in _cluster_ports(masters * 2):
                nodes.append(_start(port, Path(folder)))
            subprocess.run(
                [
                    "redis-cli",
                    "--cluster",
                    "create",
                    *(f"127.0.0.1:{n.port}" for n in nodes),
                    *("--cluster-replicas", "1", "--cluster-yes"),
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
            cluster = Cluster(nodes, Path(folder))
            _wait_until_formed(cluster, masters)
            yield cluster
        finally:
            for node in nodes:
                if node.alive():
                    node.kill()


def _wait_until_formed(cluster: Cluster, masters: int, timeout: float = 30.0) -> None:
    """Until every node says the cluster is ok and knows every other node, and every replica
    has synced with its master."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = []
        for node in cluster.nodes:
            with node.client() as client:
                info = client.execute_command("CLUSTER INFO")
                replication = client.info("replication")
            states.append(
                info.get("cluster_state") == "ok"
                and int(info.get("cluster_known_nodes", 0)) == len(cluster.nodes)
                # a replica that never synced would not take over: it waits for its first sync
                and replication.get("master_link_status", "up") == "up"
            )
        if all(states):
            return
        time.sleep(0.1)
    raise TimeoutError("the Redis Cluster did not form")
