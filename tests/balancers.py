"""nginx in front of several processes of the service, started by the tests: a generated config
in a temporary folder, round-robin over the processes' ports on a free loopback port, stopped and
removed after. Idempotent requests (GET, HEAD) that fail on one process are tried on the next
(`proxy_next_upstream`); nginx never sends a POST twice, which is what Idempotency-Key is for.
Where nginx is missing the tests skip, and under CI=true they fail instead (.ci/run installs
Debian's nginx-light)."""

from __future__ import annotations

import shutil
import signal
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.processes import daemon, free_port, required


def _binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    return required(found, "nginx is not installed (Debian: apt-get install nginx-light)")


PER_CLIENT = 256  # as the chart's ingress.connectionsPerClient


def config(root: Path, listen: int, upstreams: Sequence[int]) -> str:
    """The nginx.conf the scale-out tests run (docs/deploy.md shows the same settings)."""
    servers = "\n".join(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;" for port in upstreams)
    temp = " ".join(
        f"{kind}_temp_path {root / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
worker_processes 1;
daemon off;
pid {root / "nginx.pid"};
error_log {root / "error.log"} warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  {temp}
  # Requests one client address may have in flight (headers read, answer not sent); beyond,
  # 503 at once. Idle client connections stay with nginx, never reaching the service.
  limit_conn_zone $binary_remote_addr zone=per_client:10m;
  limit_conn_status 503;
  upstream service {{
{servers}
    keepalive 64;
    keepalive_timeout 60s;  # below the service's APP_IDLE_TIMEOUT_SECONDS (75 s)
  }}
  server {{
    listen 127.0.0.1:{listen};
    limit_conn per_client {PER_CLIENT};
    client_header_timeout 10s;
    client_max_body_size 8m;
    location / {{
      proxy_pass http://service;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_next_upstream error timeout http_502;
      proxy_next_upstream_tries 3;
      proxy_connect_timeout 1s;
      proxy_read_timeout 15s;
    }}
  }}
}}
"""


@contextmanager
def nginx(upstreams: Sequence[int]) -> Iterator[int]:
    """nginx round-robin over these ports; its own port."""
    binary = _binary()
    root = Path(tempfile.mkdtemp(prefix="nginx-"))
    root.chmod(0o755)
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (root / kind).mkdir(mode=0o777)
        (root / kind).chmod(0o777)  # the workers run as nobody when nginx starts as root
    listen = free_port()
    (root / "nginx.conf").write_text(config(root, listen, upstreams))
    command = [binary, "-p", str(root), "-c", str(root / "nginx.conf")]
    # SIGQUIT: graceful, the requests in flight finish
    with daemon(command, listen, root, root / "error.log", signal.SIGQUIT, "nginx") as port:
        yield port
