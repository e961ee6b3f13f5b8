"""Whether a certificate UnionPay sends may sign for UnionPay: the chain to its root.

Design overview
---------------
UnionPay's answers and notifications carry their signing certificate in ``signPubKeyCert``;
anyone can put a certificate there, so the key in it is used only once ``UnionPayTrust``
has checked, against the root and intermediate ("middle") certificates configured:

* the leaf was issued by the middle, and the middle by the root — names and signatures,
  with ``Certificate.verify_directly_issued_by`` (the root itself is self-signed);
* all three are valid at ``now`` (the injected clock), so an expired leaf is refused;
* the leaf names UnionPay's signing purpose: its subject CN is ``@``-separated and its third
  part is UnionPay's company name, ``中国银联股份有限公司``, which is the check UnionPay's own
  ACP SDK makes (``CertUtil.verifyCertificate``) and the name the simulator's PKI issues;
  another certificate of the same CA (say, an encryption one) is refused;
* its key is RSA, as ``signMethod`` ``01`` needs.

A self-signed certificate, one from another CA and an expired one are all refused with the
``bad_certificate`` code, before any signature is looked at.
"""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from simkeep.payments.model import NotificationRejected

UNIONPAY_NAME = "中国银联股份有限公司"  # the CN's third part on UnionPay's signing certificates


def load_certificate(pem: bytes | str) -> x509.Certificate:
    """A PEM certificate; ValueError when it is not one."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    return x509.load_pem_x509_certificate(data)


def signing_cn(cn_serial: str) -> str:
    """The subject CN of a UnionPay signing certificate (``<type>@<id>@<name>@<serial>``)."""
    return f"043@Z12400000001@{UNIONPAY_NAME}@{cn_serial}"


class UnionPayTrust:
    """UnionPay's root and middle certificates, and the leaf check against them."""

    def __init__(self, *, root_pem: bytes, middle_pem: bytes) -> None:
        self._root = load_certificate(root_pem)
        self._middle = load_certificate(middle_pem)
        try:
            self._root.verify_directly_issued_by(self._root)
            self._middle.verify_directly_issued_by(self._root)
        except (ValueError, TypeError, InvalidSignature) as error:
            raise ValueError("the middle certificate is not issued by the root") from error

    def signing_key(self, leaf_pem: str, *, now: datetime) -> rsa.RSAPublicKey:
        """The public key of ``leaf_pem`` once it proves to be UnionPay's signing
        certificate, valid at ``now``; ``NotificationRejected`` otherwise."""
        try:
            leaf = load_certificate(leaf_pem)
        except ValueError as error:
            raise _refused("signPubKeyCert is not a PEM certificate") from error
        try:
            leaf.verify_directly_issued_by(self._middle)
        except (ValueError, TypeError, InvalidSignature) as error:
            raise _refused("the certificate is not issued by UnionPay's middle CA") from error
        for certificate in (leaf, self._middle, self._root):
            if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
                raise _refused(f"a certificate is not valid at {now.isoformat()}")
        if _cn_name(leaf) != UNIONPAY_NAME:
            raise _refused("the certificate is not a UnionPay signing certificate")
        key = leaf.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise _refused("the certificate's key is not RSA")
        return key


def _cn_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else ""
    parts = value.split("@") if isinstance(value, str) else []
    return parts[2] if len(parts) > 2 else ""


def _refused(message: str) -> NotificationRejected:
    return NotificationRejected("bad_certificate", message)
