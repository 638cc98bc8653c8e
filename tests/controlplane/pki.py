"""The local control plane's credentials: a CA, serving and client certificates, and the
service-account signing key, written once into a folder and reused while they are valid.

Test infrastructure (tests/controlplane): ``cluster.py`` points the API server at these
files and writes one kubeconfig per client. Every key is ECDSA P-256 (made in microseconds,
accepted by kube-apiserver for TLS, client certificates and service-account tokens). Client
identities are certificates: the common name is the user, the organisations its groups,
as Kubernetes' x509 authenticator reads them.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Long enough for any kept `make cluster`; a new folder means new credentials anyway.
VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class Identity:
    """A client of the API server: its user name and groups."""

    file: str  # base name of its .crt/.key
    user: str
    groups: tuple[str, ...] = ()


#: Who talks to the API server. The controller manager and the scheduler have the users
#: Kubernetes' bootstrap RBAC policy grants their roles to; the fake kubelet writes the
#: Nodes of many names (a real kubelet only its own), which the Node authorizer would
#: refuse, so it is an administrator like the tests.
ADMIN = Identity("admin", "modelsync-admin", ("system:masters",))
CONTROLLER_MANAGER = Identity("controller-manager", "system:kube-controller-manager")
SCHEDULER = Identity("scheduler", "system:kube-scheduler")
KUBELET = Identity("fake-kubelet", "modelsync-fake-kubelet", ("system:masters",))
CLIENTS = (ADMIN, CONTROLLER_MANAGER, SCHEDULER, KUBELET)


@dataclass(frozen=True)
class Pki:
    """Where the files are: ``<dir>/ca.crt``, ``<dir>/<name>.crt`` and ``.key``, ``sa.key``."""

    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / "ca.crt"

    def cert(self, name: str) -> Path:
        return self.dir / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.dir / f"{name}.key"

    @property
    def service_account_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def service_account_public_key(self) -> Path:
        return self.dir / "sa.pub"


def ensure_pki(directory: Path) -> Pki:
    """The credentials in ``directory``, made there first if it holds none."""
    pki = Pki(directory)
    if pki.service_account_public_key.exists():
        return pki
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "modelsync-local-ca")])
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write(pki.ca, ca.public_bytes(serialization.Encoding.PEM))
    _write(pki.key("ca"), _pem(ca_key))

    server_key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.DNSName(n)
        for n in ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc")
    ]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    server = (
        _builder(_subject("kube-apiserver"), ca.subject, server_key.public_key())
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_usage(), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write(pki.cert("apiserver"), server.public_bytes(serialization.Encoding.PEM))
    _write(pki.key("apiserver"), _pem(server_key))

    for client in CLIENTS:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            _builder(_subject(client.user, client.groups), ca.subject, key.public_key())
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(_usage(), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        _write(pki.cert(client.file), cert.public_bytes(serialization.Encoding.PEM))
        _write(pki.key(client.file), _pem(key))

    signing = ec.generate_private_key(ec.SECP256R1())
    _write(pki.service_account_key, _pem(signing))
    # Written last: its presence says the folder is complete.
    _write(
        pki.service_account_public_key,
        signing.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    return pki


def _subject(common_name: str, organisations: tuple[str, ...] = ()) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organisations]
        + [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # An hour of slack: a clock a little behind still accepts a certificate just made.
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + VALIDITY)
    )


def _usage(*, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)
