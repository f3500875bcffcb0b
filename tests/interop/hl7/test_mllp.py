"""HL7 over a real TCP socket: the MLLP listener in a thread on a free port (and the
``smartcare hl7-listen`` command in its own process), with good, malformed and unknown messages
and batches."""

from __future__ import annotations

import ipaddress
import queue
import socket
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from smartcare.emr.models import Observation
from smartcare.interop.hl7 import mllp
from smartcare.interop.hl7.parsing import MAX_MESSAGE_BYTES
from smartcare.interop.models import Hl7Message
from smartcare.patients.models import Patient
from tests.factories import child_env, make_national_id, smartcare_executable
from tests.interop.hl7 import messages as m
from tests.interop.hl7.conftest import send


def ids(patient: Any) -> str:
    return f"{patient.medical_record_number}^^^SMARTCARE^MR"


def glucose_oru(control: str, patient: Any) -> str:
    return m.oru(
        control,
        identifiers=ids(patient),
        groups=[
            (m.obr(filler=control), [m.obx(1, "SN", "1554-5^GLUCOSE^LN", "^182", "mg/dl", "70_105", "H")])
        ],
    )


def test_messages_over_a_real_socket(
    listener: mllp.MllpServer, his: Any, lis: Any, hospital: Any, tmp_path: Path
) -> None:
    """One listener, many conversations (each transactional test costs a database flush)."""
    # Registration, then results for the new patient.
    national_id = make_national_id()
    ack = send(listener, m.adt("A04", "T-1", identifiers=f"H1^^^HIS^PI~{national_id}^^^CHN^NNCHN"))
    assert "MSA|AA|T-1" in ack
    patient = Patient.objects.by_national_id(national_id).get()
    assert "MSA|AA|T-2" in send(listener, glucose_oru("T-2", patient))
    assert Observation.objects.get(patient=patient).value == 182.0
    logged = Hl7Message.objects.get(control_id="T-2")
    assert logged.transport == "mllp" and logged.remote_address == "127.0.0.1"

    # Malformed, unknown type, unknown sender: AR with the reason, nothing written.
    assert "MSA|AR||HL7-001" in send(listener, "this is not HL7")
    unknown = (
        m.msh("S12", "U-1", sender=("HIS", "MAIN"), kind="SIU")
        + "\r"
        + m.pid(identifiers="1^^^HIS^PI")
        + "\r"
    )
    ack = send(listener, unknown)
    assert "MSA|AR|U-1" in ack and "HL7-005" in ack and "200^Unsupported message type" in ack
    stranger = m.adt("A04", "U-2", sender=("ROGUE", "NOWHERE"), identifiers="1^^^X^PI")
    assert "MSA|AR|U-2" in send(listener, stranger)
    assert Patient.objects.count() == 5  # the test hospital's four and the one registered above

    # A batch in one block; a truncated batch is refused whole.
    own = hospital.own_patient
    ack = send(listener, m.batch([glucose_oru("BB-1", own), glucose_oru("BB-2", own)]))
    assert ack.startswith("BHS|") and ack.count("MSA|AA|") == 2 and "BTS|2" in ack
    truncated = send(listener, m.batch([glucose_oru("BB-3", own)], count=2))
    assert "MSA|AR|" in truncated and "HL7-015" in truncated
    assert Observation.objects.filter(patient=own).count() == 2

    # Several blocks on one connection, with bytes outside the blocks ignored.
    payload = (
        b"\r\n"
        + mllp.frame(glucose_oru("J-1", own).encode())
        + b"garbage"
        + mllp.frame(glucose_oru("J-2", own).encode())
    )
    with socket.create_connection(("127.0.0.1", listener.port), timeout=120) as sock:
        sock.sendall(payload)
        answers: list[bytes] = []
        buffer = b""
        while len(answers) < 2:
            chunk = sock.recv(65536)
            assert chunk, "connection closed early"
            buffer += chunk
            while True:
                block, buffer = mllp.take_block(buffer)
                if block is None:
                    break
                answers.append(block)
    assert b"MSA|AA|J-1" in answers[0] and b"MSA|AA|J-2" in answers[1]
    assert Observation.objects.filter(patient=own).count() == 4

    # GB 18030 in, GB 18030 out.
    national_id = make_national_id()
    text = m.adt("A04", "GB-1", identifiers=f"H2^^^HIS^PI~{national_id}^^^CHN^NNCHN", name="欧阳^娜娜")
    text = text.replace("|NE|NE|CHN\r", "|NE|NE|CHN|GB 18030\r", 1)
    assert "MSA|AA|GB-1" in send(listener, text, encoding="gb18030")
    assert Patient.objects.by_national_id(national_id).get().name == "欧阳娜娜"

    # MLLP over TLS (hl7-listen --certfile/--keyfile).
    certfile, keyfile = _self_signed(tmp_path)
    secure = mllp.MllpServer(("127.0.0.1", 0), tls=mllp.tls_context(str(certfile), str(keyfile)))
    thread = threading.Thread(target=secure.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        client_tls = ssl.create_default_context(cafile=str(certfile))
        ack = mllp.send(
            "127.0.0.1", secure.port, glucose_oru("TLS-1", own).encode(), timeout=120, tls=client_tls
        )
        assert b"MSA|AA|TLS-1" in ack
    finally:
        secure.shutdown()
        secure.server_close()


def test_an_oversized_block_is_refused(listener: mllp.MllpServer, his: Any) -> None:
    with socket.create_connection(("127.0.0.1", listener.port), timeout=120) as sock:
        sock.sendall(mllp.START_BLOCK + b"MSH|" + b"x" * (MAX_MESSAGE_BYTES + 1024))
        buffer = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buffer += chunk
    block, _rest = mllp.take_block(buffer)
    assert block is not None and b"MSA|AR" in block and b"HL7-016" in block


def _self_signed(directory: Path) -> tuple[Path, Path]:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

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
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
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


def test_the_hl7_listen_command(transactional_db: Any, lis: Any, hospital: Any) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [smartcare_executable(), "hl7-listen", "--host", "127.0.0.1", "--port", str(port)],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or []], daemon=True)
    reader.start()
    output: list[str] = []
    try:
        # Ready when it says so (Django starts slowly on a busy machine: a generous bound).
        while not any("MLLP on" in line for line in output):
            try:
                output.append(lines.get(timeout=600))
            except queue.Empty:
                pytest.fail(f"hl7-listen did not start: {output}")
        assert f"MLLP on 127.0.0.1:{port}" in "".join(output)
        ack = mllp.send("127.0.0.1", port, glucose_oru("CMD-1", hospital.own_patient).encode(), timeout=300)
        assert b"MSA|AA|CMD-1" in ack
        assert Observation.objects.filter(patient=hospital.own_patient, external_id="CMD-1:1").exists()
    finally:
        process.terminate()
        process.wait(timeout=300)
        reader.join(timeout=30)
    while not lines.empty():
        output.append(lines.get())
    assert "stopped" in "".join(output)
