"""The UnionPay simulator's certificates: a root CA, a middle CA and UnionPay's signing leaf.

Design overview
---------------
``kept_pki(key_dir, now=…)`` returns the three certificates and the leaf's key, kept in
``key_dir``: the key pairs by ``simulators.keys.kept_key_pair`` and each certificate by
``write_once``, in order (root, then middle, then leaf), each issued from what is already on
disk. Several processes starting at once on an empty directory thus agree: whoever writes a
file first wins, and everyone issues the next certificate from that one. The certificates
are valid from a year before ``now`` (the first caller's clock) for years to come.

The leaf's subject CN is ``unionpay_certs.signing_cn`` — UnionPay's company name in its third
``@`` part — which is what our adapter looks for. ``self_signed_leaf``, ``foreign_leaf`` and
``middle_leaf`` make the certificates a forger would have (self-signed; from another CA
bearing the very name of UnionPay's; from UnionPay's own middle CA, but expired or for
another purpose), for the notification faults and the tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from simkeep.payments.providers.unionpay_certs import load_certificate, signing_cn
from simkeep.payments.signing import KeyPair, load_private_key
from simkeep.simulators.keys import PUBLIC_MODE, kept_key_pair, write_once

ORGANISATION = "China UnionPay"
ROOT_CN, MIDDLE_CN = "UnionPay Simulator Root CA", "UnionPay Simulator Middle CA"
LEAF_SERIAL = "00000001"
BACKDATED = timedelta(days=365)
CA_YEARS, LEAF_YEARS = 20, 5


@dataclass(frozen=True, slots=True, repr=False)
class UnionPayPki:
    """UnionPay's certificates (PEM) and the signing leaf's key pair."""

    root_pem: bytes
    middle_pem: bytes
    sign_cert_pem: bytes
    sign_keys: KeyPair


@dataclass(frozen=True, slots=True)
class _Authority:
    name: x509.Name
    key: rsa.RSAPrivateKey


def kept_pki(key_dir: Path, *, now: datetime) -> UnionPayPki:
    """The PKI kept in ``key_dir``; the first caller to get there makes it."""
    root_keys = kept_key_pair(key_dir, "root_ca")
    middle_keys = kept_key_pair(key_dir, "middle_ca")
    sign_keys = kept_key_pair(key_dir, "sign")
    start = now - BACKDATED
    root = _Authority(_name(ROOT_CN), load_private_key(root_keys.private_pem))
    middle = _Authority(_name(MIDDLE_CN), load_private_key(middle_keys.private_pem))
    root_pem = _kept(key_dir / "root_cert.pem", lambda: _ca(root, root, start))
    middle_pem = _kept(key_dir / "middle_cert.pem", lambda: _ca(middle, root, start))
    sign_pem = _kept(
        key_dir / "sign_cert.pem",
        lambda: issue(
            subject=_name(signing_cn(LEAF_SERIAL)),
            public_key=load_private_key(sign_keys.private_pem).public_key(),
            issuer=middle,
            not_before=start,
            not_after=start + timedelta(days=365 * LEAF_YEARS),
        ),
    )
    return UnionPayPki(root_pem, middle_pem, sign_pem, sign_keys)


def issue(
    *,
    subject: x509.Name,
    public_key: rsa.RSAPublicKey,
    issuer: _Authority,
    not_before: datetime,
    not_after: datetime,
    ca: bool = False,
) -> bytes:
    """A certificate (PEM) for ``public_key`` under ``subject``, signed by ``issuer``."""
    usage = dict.fromkeys(_USAGES, False)
    usage.update(key_cert_sign=ca, crl_sign=ca, digital_signature=not ca, content_commitment=not ca)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(**usage), critical=True)
        .sign(issuer.key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def self_signed_leaf(now: datetime) -> tuple[bytes, KeyPair]:
    """A leaf that names UnionPay's signing purpose, signed by its own key."""
    keys = KeyPair.generate()
    subject = _name(signing_cn(LEAF_SERIAL))
    authority = _Authority(subject, load_private_key(keys.private_pem))
    return _leaf(keys, authority, now), keys


def foreign_leaf(now: datetime) -> tuple[bytes, KeyPair]:
    """A leaf from another middle CA that bears the very name of UnionPay's."""
    middle = _Authority(_name(MIDDLE_CN), load_private_key(KeyPair.generate().private_pem))
    keys = KeyPair.generate()
    return _leaf(keys, middle, now), keys


def middle_leaf(
    key_dir: Path,
    *,
    not_before: datetime,
    not_after: datetime,
    common_name: str = signing_cn(LEAF_SERIAL),
) -> tuple[bytes, KeyPair]:
    """A leaf for the kept signing key from the kept middle CA, with these dates and CN: an
    expired signing certificate, or one for another purpose."""
    keys = kept_key_pair(key_dir, "sign")
    middle_key = load_private_key(kept_key_pair(key_dir, "middle_ca").private_pem)
    leaf = issue(
        subject=_name(common_name),
        public_key=load_private_key(keys.private_pem).public_key(),
        issuer=_Authority(_name(MIDDLE_CN), middle_key),
        not_before=not_before,
        not_after=not_after,
    )
    return leaf, keys


_USAGES = (
    *("digital_signature", "content_commitment", "key_encipherment", "data_encipherment"),
    *("key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"),
)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca(subject: _Authority, issuer: _Authority, start: datetime) -> bytes:
    return issue(
        subject=subject.name,
        public_key=subject.key.public_key(),
        issuer=issuer,
        not_before=start,
        not_after=start + timedelta(days=365 * CA_YEARS),
        ca=True,
    )


def _leaf(keys: KeyPair, issuer: _Authority, now: datetime) -> bytes:
    return issue(
        subject=_name(signing_cn(LEAF_SERIAL)),
        public_key=load_private_key(keys.private_pem).public_key(),
        issuer=issuer,
        not_before=now - BACKDATED,
        not_after=now + timedelta(days=365 * LEAF_YEARS),
    )


def _kept(path: Path, make: Callable[[], bytes]) -> bytes:
    write_once(path, make, mode=PUBLIC_MODE)
    data = path.read_bytes()
    load_certificate(data)
    return data
