"""A PostgreSQL front door that checks AWS RDS IAM tokens, for the kit's IAM tests.

It speaks just enough of the wire protocol to stand where RDS stands: TLS is required (a
client that does not ask for it is refused), the client is asked for a cleartext password, and
that password must be an RDS IAM token (a SigV4 presigned URL) for this host, port, user and
region, signed with the fake secret the test exported, not expired, and made for this very
connection: signed at most ``FRESH_WITHIN`` seconds before it is presented, so a token a client
kept and presented again later (a cached password) is refused. (RDS itself accepts one token
for any number of connections within its 15 minutes; SigV4 signs to the second, so two tokens
made in the same second are the same string.)
Then the startup message goes on to a trust-auth server over its Unix socket and bytes are
relayed both ways. Every presented token and every refusal is recorded for the tests to read.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import ssl
import struct
import subprocess
import threading
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl, quote

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
#: the SHA-256 of an empty payload: what a presigned RDS token signs as its body
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
#: RDS tokens live 15 minutes
MAX_EXPIRES = 900
#: seconds between signing and presenting that still count as "made for this connection"
FRESH_WITHIN = 5


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, made now with openssl."""
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True)
    return cert, key


def _signing_key(secret: str, scope: list[str]) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in scope:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


@dataclass
class Expected:
    """What a token must be signed for."""

    host: str
    port: int
    region: str
    access_key: str
    secret: str


def check_token(token: str, user: str, expected: Expected, now: datetime) -> str | None:
    """None when ``token`` is a valid RDS IAM token for ``user``; otherwise why not."""
    hostport, sep, query = token.partition("/?")
    if not sep:
        return "not a presigned URL"
    if hostport != f"{expected.host}:{expected.port}":
        return f"signed for {hostport}, not {expected.host}:{expected.port}"
    pairs = parse_qsl(query, keep_blank_values=True)
    params = dict(pairs)
    if params.get("Action") != "connect" or params.get("DBUser") != user:
        return f"not a connect token for user {user}"
    if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or \
            params.get("X-Amz-SignedHeaders") != "host":
        return "not a SigV4 token signing the host header"
    credential = params.get("X-Amz-Credential", "").split("/")
    if len(credential) != 5 or credential[0] != expected.access_key:
        return "credential of another access key"
    _, day, region, service, terminator = credential
    if region != expected.region or service != "rds-db" or terminator != "aws4_request":
        return f"scope {region}/{service}, not {expected.region}/rds-db"
    try:
        signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=timezone.utc)
        expires = int(params["X-Amz-Expires"])
    except (KeyError, ValueError):
        return "no signing time or lifetime"
    if signed_at.strftime("%Y%m%d") != day or expires > MAX_EXPIRES:
        return "scope day or lifetime out of bounds"
    if signed_at > now + timedelta(minutes=5) or signed_at + timedelta(seconds=expires) < now:
        return "expired (or signed in the future)"
    if now - signed_at > timedelta(seconds=FRESH_WITHIN + 1):  # + 1: the date has no fraction
        return (f"not made for this connection: signed {(now - signed_at).seconds} s before "
                "it was presented (a kept token, reused)")
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k, v in sorted(pairs) if k != "X-Amz-Signature")
    request = "\n".join(["GET", "/", canonical_query, f"host:{hostport}", "", "host",
                         EMPTY_SHA256])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", params["X-Amz-Date"],
                         "/".join(credential[1:]), hashlib.sha256(request.encode()).hexdigest()])
    wanted = hmac.new(_signing_key(expected.secret, credential[1:]), to_sign.encode(),
                      hashlib.sha256).hexdigest()
    if not hmac.compare_digest(wanted, params.get("X-Amz-Signature", "")):
        return "bad signature"
    return None


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


def _error(message: str, code: str = "28P01") -> bytes:
    body = b"SFATAL\0VFATAL\0C" + code.encode() + b"\0M" + message.encode() + b"\0\0"
    return b"E" + struct.pack("!i", len(body) + 4) + body


@dataclass
class IamProxy:
    """The front door on 127.0.0.1:``port``, relaying to the server socket ``upstream``."""

    upstream: str
    expected: Expected
    cert: Path
    key: Path
    presented: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.expected.port or 0))
        self.port = self._listener.getsockname()[1]
        self.expected.port = self.port
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(self.cert, self.key)
        #: what "now" is when a token is checked (a test moves it to present a kept token)
        self.clock = lambda: datetime.now(timezone.utc)
        self._lock = threading.Lock()
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self._closing = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            self._handle(client)
        except (OSError, ConnectionError, ssl.SSLError):
            client.close()

    def _handle(self, raw: socket.socket) -> None:
        length, code = struct.unpack("!ii", _recv_exact(raw, 8))
        if code == GSSENC_REQUEST:
            raw.sendall(b"N")
            length, code = struct.unpack("!ii", _recv_exact(raw, 8))
        if code != SSL_REQUEST:
            self._refuse(raw, "TLS required")
            return
        raw.sendall(b"S")
        client = self._tls.wrap_socket(raw, server_side=True)
        (length,) = struct.unpack("!i", _recv_exact(client, 4))
        startup = _recv_exact(client, length - 4)
        words = startup[4:].split(b"\0")
        options = dict(zip(words[0::2], words[1::2]))
        user = options.get(b"user", b"").decode()
        client.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
        kind, length = struct.unpack("!ci", _recv_exact(client, 5))
        token = _recv_exact(client, length - 4).rstrip(b"\0").decode()
        with self._lock:
            self.presented.append(token)
            reason = check_token(token, user, self.expected, self.clock())
        if kind != b"p" or reason is not None:
            self._refuse(client, f"PAM authentication failed for user {user}: {reason}")
            return
        self.accepted.append(token)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.connect(self.upstream)
        server.sendall(struct.pack("!i", len(startup) + 4) + startup)
        threading.Thread(target=_pump, args=(server, client), daemon=True).start()
        _pump(client, server)

    def _refuse(self, sock: socket.socket, reason: str) -> None:
        with self._lock:
            self.refused.append(reason)
        sock.sendall(_error(reason))
        sock.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            with suppress(OSError):
                s.close()
