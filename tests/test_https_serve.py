"""`smartcare serve --certfile --keyfile` serves HTTPS itself, with secure cookies and HSTS."""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return certfile, keyfile


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def https_server(tmp_path: Path, transactional_db: object, settings: object):
    from django.conf import settings as django_settings

    certfile, keyfile = _self_signed(tmp_path)
    port = _free_port()
    env = dict(os.environ)
    database = django_settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{database['NAME']}"
    else:
        env["DATABASE_URL"] = (
            f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/"
            f"{database['NAME']}"
        )
    command = [sys.executable, "-m", "smartcare.cli", "serve", "--port", str(port)]
    command += ["--certfile", str(certfile), "--keyfile", str(keyfile), "--log-level", "warning"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"https://127.0.0.1:{port}"
    # Generous: the server imports every app before it listens, and CI shares two cores.
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"{base}/healthz", verify=False, timeout=1)  # noqa: S501 (self-signed test cert)
            break
        except httpx.TransportError:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"server exited: {output}")
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail("the HTTPS server did not answer within 120 s")
            time.sleep(0.2)
    yield base
    process.terminate()
    process.wait(timeout=10)


def test_serve_https_sets_hsts_and_secure_cookies(https_server: str) -> None:
    from tests.factories import PASSWORD, UserFactory

    UserFactory(username="tls-user", role="auditor")
    with httpx.Client(base_url=https_server, verify=False, follow_redirects=False) as client:  # noqa: S501
        page = client.get("/accounts/login/")
        assert page.status_code == 200
        assert "max-age=" in page.headers.get("strict-transport-security", "")
        csrf_cookie = page.headers.get("set-cookie", "")
        assert "csrftoken=" in csrf_cookie and "Secure" in csrf_cookie
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token is not None
        response = client.post(
            "/accounts/login/",
            data={"username": "tls-user", "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
            headers={"Referer": f"{https_server}/accounts/login/"},
        )
        assert response.status_code == 302
        session_cookie = [c for c in response.headers.get_list("set-cookie") if c.startswith("sessionid=")]
        assert session_cookie and "Secure" in session_cookie[0] and "HttpOnly" in session_cookie[0]


def test_serve_refuses_certfile_without_keyfile(tmp_path: Path) -> None:
    certfile, _keyfile = _self_signed(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "smartcare.cli", "serve", "--certfile", str(certfile)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert result.returncode != 0
    assert "--certfile and --keyfile go together" in result.stderr
