"""CURVE keys for TCP endpoints: generation (``run.py keys generate``), loading and client auth.

A keys directory (mode 0700) holds, in pyzmq's certificate format, every file mode 0600
whatever the umask (public keys too: private by default; copy one on purpose to share it)::

    server.key            server public key (give it to clients)
    server.key_secret     server key pair
    client.key            client public key
    client.key_secret     client key pair
    authorized_clients/   public keys of the clients the daemon accepts (client.key to start)

With an authenticator running (``start_authenticator``) only clients whose public key is in
``authorized_clients/`` can connect; without one, CURVE still encrypts but accepts any client.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import zmq

from pipeline.bus.runtime_dir import ensure_private_dir
from pipeline.errors import BusError

if TYPE_CHECKING:
    from zmq.auth.thread import ThreadAuthenticator

logger = logging.getLogger(__name__)

AUTHORIZED_DIR = "authorized_clients"
_SECRET_MODE = 0o600
_PUBLIC_MODE = 0o600  # not secret, but nobody else's business either


@dataclass(frozen=True, slots=True)
class ServerKeys:
    """The key pair a binding socket serves with (z85 bytes, 40 characters each)."""

    public: bytes
    secret: bytes
    authorized_dir: Path | None = None  # public keys of accepted clients; None: accept any


@dataclass(frozen=True, slots=True)
class ClientKeys:
    """A connecting socket's key pair and the public key of the server it expects."""

    public: bytes
    secret: bytes
    server_public: bytes


def _certificate(public: bytes, secret: bytes | None) -> str:
    lines = [f"#   ****  Generated on {time.strftime('%Y-%m-%d %H:%M:%S')} by streamscribe  ****"]
    if secret is not None:
        lines.append("#   ZeroMQ CURVE **Secret** Certificate: do not share this file.")
    lines += ["", "metadata", "curve", f'    public-key = "{public.decode()}"']
    if secret is not None:
        lines.append(f'    secret-key = "{secret.decode()}"')
    return "\n".join(lines) + "\n"


def _write_new(path: Path, text: str, mode: int, overwrite: bool) -> None:
    if overwrite:
        path.unlink(missing_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as e:
        raise BusError(f"{path} exists; refusing to overwrite keys (pass overwrite)") from e
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def generate_keys(keys_dir: str | os.PathLike[str], *, overwrite: bool = False) -> list[Path]:
    """Write a server and a client key pair into ``keys_dir`` (created with mode 0700).

    Secret files get mode 0600. Returns the files written.
    """
    if not zmq.has("curve"):
        raise BusError("this libzmq was built without CURVE support")
    root = ensure_private_dir(Path(keys_dir).expanduser())
    authorized = ensure_private_dir(root / AUTHORIZED_DIR)
    written = []
    for name in ("server", "client"):
        public, secret = zmq.curve_keypair()
        secret_path = root / f"{name}.key_secret"
        public_path = root / f"{name}.key"
        _write_new(secret_path, _certificate(public, secret), _SECRET_MODE, overwrite)
        _write_new(public_path, _certificate(public, None), _PUBLIC_MODE, overwrite)
        written += [secret_path, public_path]
        if name == "client":
            allowed = authorized / "client.key"
            _write_new(allowed, _certificate(public, None), _PUBLIC_MODE, overwrite)
            written.append(allowed)
    logger.info("wrote CURVE keys to %s", root)
    return written


def _load(path: Path, *, secret: bool) -> tuple[bytes, bytes | None]:
    from zmq.auth import load_certificate

    try:
        info = os.stat(path)
    except OSError as e:
        raise BusError(f"CURVE key file {path} is missing ({e}); run 'run.py keys generate'") from e
    if secret and stat.S_IMODE(info.st_mode) & 0o077:
        raise BusError(
            f"CURVE secret key file {path} has mode {stat.S_IMODE(info.st_mode):04o}; "
            f"other users could read it. Run 'chmod 600 {path}'"
        )
    try:
        public, secret_key = load_certificate(path)
    except Exception as e:
        raise BusError(f"cannot read CURVE key file {path}: {e}") from e
    if secret and not secret_key:
        raise BusError(f"CURVE key file {path} holds no secret key")
    return public, secret_key


def load_server_keys(keys_dir: str | os.PathLike[str]) -> ServerKeys:
    """The server key pair from ``keys_dir``, accepting the clients in ``authorized_clients/``."""
    root = Path(keys_dir).expanduser()
    public, secret = _load(root / "server.key_secret", secret=True)
    assert secret is not None
    authorized = root / AUTHORIZED_DIR
    return ServerKeys(public, secret, authorized if authorized.is_dir() else None)


def load_client_keys(keys_dir: str | os.PathLike[str]) -> ClientKeys:
    """The client key pair and the server's public key from ``keys_dir``."""
    root = Path(keys_dir).expanduser()
    public, secret = _load(root / "client.key_secret", secret=True)
    server_public, _ = _load(root / "server.key", secret=False)
    assert secret is not None
    return ClientKeys(public, secret, server_public)


def start_authenticator(context: zmq.Context, keys: ServerKeys) -> ThreadAuthenticator:
    """Start a ZAP handler on ``context`` that admits only authorized client keys.

    Call once per context, before binding; stop it (``.stop()``) before closing the context.
    """
    from zmq.auth.thread import ThreadAuthenticator

    if keys.authorized_dir is None:
        raise BusError("server keys have no authorized_clients directory to check clients against")
    auth = ThreadAuthenticator(context, log=logging.getLogger(f"{__name__}.zap"))
    auth.start()
    auth.configure_curve(domain="*", location=str(keys.authorized_dir))
    return auth
