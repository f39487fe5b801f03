"""Helpers for the egress tests: a scripted resolver, a tiny recording HTTP(S) server, test certs.

Nothing here touches DNS or any address but loopback.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class ScriptedResolver:
    """Answers from a script: ``answers[name]`` is a list of answers, one per call (the last repeats).

    This stands in for DNS, which no local server of ours can control for the system resolver.
    """

    def __init__(self, answers: dict[str, Sequence[Sequence[str]]]) -> None:
        self._answers = {name: [list(a) for a in seq] for name, seq in answers.items()}
        self.calls: list[tuple[str, int]] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        from bot.domain.errors import DNSFailure

        self.calls.append((host, port))
        script = self._answers.get(host)
        if not script:
            raise DNSFailure(f"no such host {host}")
        index = min(len([c for c in self.calls if c[0] == host]) - 1, len(script) - 1)
        return list(script[index])


@dataclass
class Seen:
    """What one request looked like from the server's side."""

    method: str
    target: str
    headers: dict[str, str]
    local_address: str
    sni: str | None = None
    body: bytes = b""


@dataclass
class RecordingServer:
    """An HTTP/1.1 server on a loopback address that records every connection and request and
    answers each with a fixed status and headers."""

    host: str = "127.0.0.1"
    port: int = 0
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    ssl_context: ssl.SSLContext | None = None
    hang: bool = False  # read the request, never answer
    short_body: bool = False  # answer with a truncated body and close
    connections: int = 0
    requests: list[Seen] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _sni: list[str | None] = field(default_factory=list)

    async def start(self) -> RecordingServer:
        if self.ssl_context is not None:
            self.ssl_context.sni_callback = self._remember_sni
        self._server = await asyncio.start_server(self._handle, self.host, self.port, ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _remember_sni(self, _sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        self._sni.append(name)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        local = writer.get_extra_info("sockname")[0]
        sni = self._sni[-1] if self.ssl_context is not None and self._sni else None
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if line:
                        k, _, v = line.partition(":")
                        headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                self.requests.append(Seen(method, target, headers, local, sni, body))
                if self.hang:
                    await asyncio.Event().wait()
                if self.short_body:  # announce more than we send, then hang up
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nab")
                    await writer.drain()
                    break
                extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
                writer.write(
                    f"HTTP/1.1 {self.status} X\r\nContent-Length: {len(self.body)}\r\n{extra}\r\n".encode()
                    + self.body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()


@dataclass
class ThrowawayCA:
    """A throwaway certificate authority that signs leaf certificates for chosen names."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls) -> ThrowawayCA:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "imagecheck test CA")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        return cls(key, cert)

    def write_ca(self, directory: Path) -> Path:
        path = directory / "ca.pem"
        path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        return path

    def client_context(self, directory: Path) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.write_ca(directory)))

    def server_context(self, directory: Path, names: Sequence[str]) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        alt: list[x509.GeneralName] = []
        for n in names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                alt.append(x509.DNSName(n))
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(alt), critical=False)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                               critical=False)
                .sign(self.key, hashes.SHA256()))
        cert_path = directory / f"{names[0]}.pem"
        key_path = directory / f"{names[0]}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert_path, key_path)
        return ctx
