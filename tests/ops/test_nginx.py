"""docs/deploy/nginx/pige.conf in a real nginx: TLS, basic auth, operators get the full UI, viewers not."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.ops.support import REPO, Stack, free_port

PERMISSIONS = "{ permissions { permission value } }"
USERS = {"alice": "operator-pw-1", "victor": "viewer-pw-2"}

pytestmark = pytest.mark.slow


@dataclass
class Proxy:
    https: str
    http: str


def _site(ui_port: int, ro_port: int, https_port: int, http_port: int, base: Path) -> str:
    text = (REPO / "docs" / "deploy" / "nginx" / "pige.conf").read_text()
    replacements = {
        "127.0.0.1:3000": f"127.0.0.1:{ui_port}",
        "127.0.0.1:3001": f"127.0.0.1:{ro_port}",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "/etc/letsencrypt/live/pige.example.org/fullchain.pem": str(base / "cert.pem"),
        "/etc/letsencrypt/live/pige.example.org/privkey.pem": str(base / "key.pem"),
        "/etc/nginx/pige.htpasswd": str(base / "pige.htpasswd"),
        "/etc/nginx/pige-operators.map": str(base / "pige-operators.map"),
    }
    for old, new in replacements.items():
        assert old in text, f"docs/deploy/nginx/pige.conf no longer contains {old!r}"
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def proxy(stack: Stack) -> Iterator[Proxy]:
    if not shutil.which("nginx"):
        pytest.fail("nginx is missing: install nginx-light (.ci/setup does)")
    # nginx workers drop privileges: the folder must be readable by them, unlike pytest's tmp_path.
    base = Path(tempfile.mkdtemp(prefix="pige-nginx-", dir="/tmp"))
    os.chmod(base, 0o755)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-keyout", str(base / "key.pem"), "-out", str(base / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    lines = []
    for user, password in USERS.items():
        hashed = subprocess.run(["openssl", "passwd", "-apr1", password], check=True, capture_output=True,
                                text=True).stdout.strip()  # fmt: skip
        lines.append(f"{user}:{hashed}")
    (base / "pige.htpasswd").write_text("\n".join(lines) + "\n")
    (base / "pige-operators.map").write_text("alice pige_full;\n")
    for path in base.iterdir():
        path.chmod(0o644)
    ui_port, ro_port = (int(url.rsplit(":", 1)[1]) for url in (stack.ui_url, stack.read_only_url))
    https_port, http_port = free_port(), free_port()
    (base / "site.conf").write_text(_site(ui_port, ro_port, https_port, http_port, base))
    (base / "nginx.conf").write_text(
        f"pid {base}/nginx.pid;\nerror_log {base}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log {base}/access.log;\n  client_body_temp_path {base}/body;\n"
        f"  proxy_temp_path {base}/proxy;\n  include {base}/site.conf;\n}}\n"
    )
    test = subprocess.run(
        ["nginx", "-t", "-c", str(base / "nginx.conf"), "-p", str(base)], capture_output=True, text=True
    )
    assert test.returncode == 0, test.stderr
    server = subprocess.Popen(
        ["nginx", "-c", str(base / "nginx.conf"), "-p", str(base), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"https://127.0.0.1:{https_port}/", verify=False, timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        yield Proxy(f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}")
    finally:
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(base, ignore_errors=True)


def _can_launch(proxy: Proxy, user: str) -> bool:
    response = httpx.post(f"{proxy.https}/graphql", json={"query": PERMISSIONS}, auth=(user, USERS[user]),
                          verify=False, timeout=30)  # fmt: skip
    response.raise_for_status()
    permissions = {p["permission"]: p["value"] for p in response.json()["data"]["permissions"]}
    return permissions["launch_pipeline_execution"]


def test_nobody_gets_in_without_a_password(proxy: Proxy) -> None:
    assert httpx.get(f"{proxy.https}/", verify=False).status_code == 401
    assert httpx.get(f"{proxy.https}/", auth=("victor", "wrong"), verify=False).status_code == 401
    redirect = httpx.get(f"{proxy.http}/assets", follow_redirects=False)
    assert redirect.status_code == 301 and redirect.headers["location"].startswith("https://")


def test_operators_get_the_full_ui_and_viewers_the_read_only_one(proxy: Proxy) -> None:
    page = httpx.get(f"{proxy.https}/", auth=("alice", USERS["alice"]), verify=False)
    assert page.status_code == 200 and "Strict-Transport-Security" in page.headers
    assert _can_launch(proxy, "alice") is True
    assert _can_launch(proxy, "victor") is False
