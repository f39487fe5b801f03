"""Certificates for the tests, generated with ``cryptography`` (nothing is read from disk or the net).

``TestCA`` issues leaf certificates; tests that want exactly one TLS failure (expired, wrong host)
trust the CA through ``ca_pem_path`` so that the failure under test is the only one.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK_NAMES: tuple[str, ...] = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class CertFiles:
    """A certificate and its private key as PEM files (and the PEM bytes of the certificate)."""

    cert_path: Path
    key_path: Path
    cert_pem: bytes

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_path, self.key_path)
        return ctx


def new_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _san(names: tuple[str, ...]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _write(directory: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> CertFiles:
    directory.mkdir(parents=True, exist_ok=True)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path = directory / f"{stem}.crt"
    key_path = directory / f"{stem}.key"
    cert_path.write_bytes(cert_pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return CertFiles(cert_path=cert_path, key_path=key_path, cert_pem=cert_pem)


def self_signed(
    directory: Path,
    stem: str,
    common_name: str,
    names: tuple[str, ...] = LOOPBACK_NAMES,
    *,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[CertFiles, ec.EllipticCurvePrivateKey]:
    """A self-signed certificate (a CA of its own) valid from an hour ago for a year."""
    key = key or new_ec_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(_san(names), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return _write(directory, stem, cert, key), key


class TestCA:
    """A throw-away certificate authority that issues server certificates."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path, name: str = "imagecheck test CA") -> None:
        self.directory = directory
        self.files, self._key = self_signed(directory, "ca", name, names=())
        self._cert = x509.load_pem_x509_certificate(self.files.cert_pem)

    @property
    def ca_pem_path(self) -> Path:
        return self.files.cert_path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only this CA (hostname checking on)."""
        ctx = ssl.create_default_context(cafile=str(self.ca_pem_path))
        return ctx

    def issue(
        self,
        stem: str,
        names: tuple[str, ...] = LOOPBACK_NAMES,
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> CertFiles:
        key = new_ec_key()
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - timedelta(hours=1))
            .not_valid_after(not_after or now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(_san(names), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        return _write(self.directory, stem, cert, key)

    def issue_expired(self, stem: str, names: tuple[str, ...] = LOOPBACK_NAMES) -> CertFiles:
        now = datetime.now(UTC)
        return self.issue(stem, names, not_before=now - timedelta(days=60), not_after=now - timedelta(days=1))
