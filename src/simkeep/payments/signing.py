"""The small typed signing layer both halves of every protocol share.

Merchant adapters (``payments/providers``) and provider simulators (``simulators``) use the
same primitives: RSA-2048 key pairs, SHA256withRSA (PKCS#1 v1.5) signatures in base64, and
AES-256-GCM for WeChat Pay's encrypted resources. Nothing here knows a provider.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class SignatureError(ValueError):
    """A key, signature or ciphertext that cannot be used or does not verify."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    private_pem: bytes
    public_pem: bytes

    @classmethod
    def generate(cls, bits: int = 2048) -> KeyPair:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cls.from_private_pem(private_pem)

    @classmethod
    def from_private_pem(cls, private_pem: bytes) -> KeyPair:
        """The pair whose private half is ``private_pem``; the public half is derived from it."""
        public_pem = (
            load_private_key(private_pem)
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return cls(private_pem, public_pem)


def key_file(path: str) -> bytes:
    """A key or certificate file's bytes, read once at start; ``ValueError`` naming the file
    when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"cannot read the key file {path}: {error.strerror}") from error


def load_private_key(pem: bytes | str) -> rsa.RSAPrivateKey:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as error:
        raise SignatureError(f"not a PEM private key: {error}") from error
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SignatureError("the private key is not an RSA key")
    return key


def load_public_key(pem: bytes | str) -> rsa.RSAPublicKey:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as error:
        raise SignatureError(f"not a PEM public key: {error}") from error
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureError("the public key is not an RSA key")
    return key


def sign_sha256_rsa(private_key: rsa.RSAPrivateKey, message: bytes) -> str:
    """SHA256withRSA (PKCS#1 v1.5) over ``message``, base64."""
    signature = private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify_sha256_rsa(public_key: rsa.RSAPublicKey, message: bytes, signature_b64: str) -> bool:
    """True when ``signature_b64`` is a valid SHA256withRSA signature of ``message``."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def aes_gcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, associated_data: bytes) -> str:
    """AES-256-GCM; returns base64 of ciphertext followed by the 16-byte tag."""
    _check_aes(key, nonce)
    return base64.b64encode(AESGCM(key).encrypt(nonce, plaintext, associated_data)).decode()


def aes_gcm_decrypt(key: bytes, nonce: bytes, ciphertext_b64: str, associated_data: bytes) -> bytes:
    """Inverse of ``aes_gcm_encrypt``; a wrong key, nonce, AAD or a tampered text raises."""
    _check_aes(key, nonce)
    try:
        data = base64.b64decode(ciphertext_b64, validate=True)
        return AESGCM(key).decrypt(nonce, data, associated_data)
    except (InvalidTag, binascii.Error, ValueError) as error:
        raise SignatureError("the encrypted resource does not decrypt") from error


def _check_aes(key: bytes, nonce: bytes) -> None:
    if len(key) != 32:
        raise SignatureError("an AES-256-GCM key is 32 bytes")
    if len(nonce) != 12:
        raise SignatureError("an AES-256-GCM nonce is 12 bytes")
