"""Throw-away TLS material for the tests: a CA, a server cert for 127.0.0.1, a client cert."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

try:
    from cryptography import x509
except ImportError:  # paramiko depends on it, so this is rare; in CI it is a failure
    from tests.support.lite import in_ci

    if in_ci():
        pytest.fail("CI needs the cryptography package to make test certificates", pytrace=False)
    pytest.skip("the cryptography package makes the test certificates", allow_module_level=True)
import ipaddress  # noqa: E402

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, key, cert) -> tuple[Path, Path]:
    key_path = path.with_suffix(".key")
    cert_path = path.with_suffix(".crt")
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def make_pki(folder: Path, ca_name: str = "larfarm test CA") -> dict[str, Path]:
    """ca.crt, server.crt/.key (SAN 127.0.0.1, localhost), client.crt/.key, all signed by the CA."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=2)
    ca_key = _key()
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(ca_name))
        .issuer_name(_name(ca_name))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    out = {}
    out["ca"], _ = _write(folder / "ca", ca_key, ca)

    def leaf(cn: str, san: list):
        key = _key()
        b = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
        )
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return key, b.sign(ca_key, hashes.SHA256())

    skey, scert = leaf("larfarm-agent", [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    out["server_cert"], out["server_key"] = _write(folder / "server", skey, scert)
    ckey, ccert = leaf("larfarm-controller", [])
    out["client_cert"], out["client_key"] = _write(folder / "client", ckey, ccert)
    return out
