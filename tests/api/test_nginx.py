"""docs/deploy/nginx/pige.conf in a real nginx: the API under /api/ over TLS, beside the UIs' basic auth."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pige_pipeline.settings import REPO_ROOT
from tests.api.support import DEMO, Tokens, free_port, start_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def behind_nginx(api_root: Path, tokens: Tokens) -> Iterator[str]:
    """`pige api --root-path /api` as pige-api.service starts it, behind the site's nginx; its https URL."""
    if not shutil.which("nginx"):
        pytest.fail("nginx is missing: install nginx-light (.ci/setup does)")
    # nginx workers drop privileges: the folder must be readable by them, unlike pytest's tmp_path.
    base = Path(tempfile.mkdtemp(prefix="pige-api-nginx-", dir="/tmp"))
    os.chmod(base, 0o755)
    api = start_server(api_root, base / "api.log", "--root-path", "/api")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-keyout", str(base / "key.pem"), "-out", str(base / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    (base / "pige.htpasswd").write_text("")
    (base / "pige-operators.map").write_text("")
    https_port, http_port = free_port(), free_port()
    site = (REPO_ROOT / "docs" / "deploy" / "nginx" / "pige.conf").read_text()
    for old, new in {
        "127.0.0.1:8600": api.url.removeprefix("http://"),
        "127.0.0.1:3000": f"127.0.0.1:{free_port()}",
        "127.0.0.1:3001": f"127.0.0.1:{free_port()}",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "/etc/letsencrypt/live/pige.example.org/fullchain.pem": str(base / "cert.pem"),
        "/etc/letsencrypt/live/pige.example.org/privkey.pem": str(base / "key.pem"),
        "/etc/nginx/pige.htpasswd": str(base / "pige.htpasswd"),
        "/etc/nginx/pige-operators.map": str(base / "pige-operators.map"),
    }.items():
        assert old in site, f"docs/deploy/nginx/pige.conf no longer contains {old!r}"
        site = site.replace(old, new)
    (base / "site.conf").write_text(site)
    (base / "nginx.conf").write_text(
        f"pid {base}/nginx.pid;\nerror_log {base}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log {base}/access.log;\n  client_body_temp_path {base}/body;\n"
        f"  proxy_temp_path {base}/proxy;\n  include {base}/site.conf;\n}}\n"
    )
    for path in base.iterdir():
        path.chmod(0o644)
    check = subprocess.run(
        ["nginx", "-t", "-c", str(base / "nginx.conf"), "-p", str(base)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    nginx = subprocess.Popen(
        ["nginx", "-c", str(base / "nginx.conf"), "-p", str(base), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"https://127.0.0.1:{https_port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/api/health", verify=False, timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url
    finally:
        nginx.terminate()
        nginx.wait(timeout=20)
        api.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_the_api_answers_under_api_with_tls_and_its_own_tokens(behind_nginx: str, tokens: Tokens) -> None:
    with httpx.Client(base_url=behind_nginx, verify=False, timeout=30) as client:
        assert client.get("/api/health").json()["status"] == "ok"
        assert client.get("/api/plays").status_code == 401  # no basic-auth prompt: the API's own 401
        plays = client.get("/api/plays", headers={"Authorization": f"Bearer {tokens.viewer_demo}"})
        assert plays.status_code == 200 and {p["station"] for p in plays.json()["items"]} == {DEMO}
        # Behind the proxy the request is not the scraper's loopback: metrics need an admin token.
        assert client.get("/api/metrics").status_code == 401
        admin = client.get("/api/metrics", headers={"Authorization": f"Bearer {tokens.admin}"})
        assert admin.status_code == 200 and "pige_station_recording" in admin.text
        document = client.get("/api/openapi.json").json()
        assert document["servers"] == [{"url": "/api"}]
        assert "/api/openapi.json" in client.get("/api/docs").text
        assert client.get("/", follow_redirects=False).status_code == 401  # the UIs keep their basic auth
