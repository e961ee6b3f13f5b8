"""Key pairs kept on disk, so that every worker process is the same merchant and provider.

Design overview
---------------
``kept_key_pair(directory, name)`` returns the RSA key pair stored as
``<name>_private_key.pem`` (mode 0600) and ``<name>_public_key.pem`` in ``directory``,
making it on first use and reading it afterwards. Several workers may start at once on an
empty directory, so seeing no file is never taken as leave to write one: ``write_once``
puts its candidate in a temporary file in the same directory and hard-links it to the final
name, which fails when that name exists. The first writer wins, nobody sees a half-written
file, and every caller then reads what is on disk. The private key is the truth; the public
key is derived from it (and written next to it for tools outside the server), so the two
cannot disagree. ``public_key_id`` names a WeChat Pay platform key from the key itself, so
every process gives it the same ``PUB_KEY_ID_…``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from simkeep.payments.providers.wechatpay_signing import PUBLIC_KEY_ID_PREFIX
from simkeep.payments.signing import KeyPair

PRIVATE_MODE, PUBLIC_MODE = 0o600, 0o644


def kept_key_pair(directory: Path, name: str) -> KeyPair:
    """The key pair ``name`` kept in ``directory``; the first caller to get there makes it."""
    directory.mkdir(parents=True, exist_ok=True)
    private = directory / f"{name}_private_key.pem"
    write_once(private, lambda: KeyPair.generate().private_pem, mode=PRIVATE_MODE)
    keys = KeyPair.from_private_pem(private.read_bytes())
    write_once(directory / f"{name}_public_key.pem", lambda: keys.public_pem, mode=PUBLIC_MODE)
    return keys


def write_once(path: Path, content: Callable[[], bytes], *, mode: int) -> None:
    """Put ``content()`` at ``path`` unless a file is there; a file already there wins."""
    if path.exists():
        return
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content())
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        with contextlib.suppress(FileExistsError):  # another process won: its file stands
            os.link(temporary, path)
    finally:
        os.unlink(temporary)


def public_key_id(public_pem: bytes) -> str:
    """``PUB_KEY_ID_`` and 32 digits of the key's SHA-256: every process names a key alike."""
    digest = int.from_bytes(hashlib.sha256(public_pem).digest(), "big")
    return f"{PUBLIC_KEY_ID_PREFIX}{digest % 10**32:032d}"
