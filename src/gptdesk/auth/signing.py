"""Signing keys: the HS256 project secret, and optionally an asymmetric key for user tokens.

With GPTDESK_JWT_ALGORITHM=ES256 or RS256, access tokens are signed with a private key (its
public half is published at /auth/v1/.well-known/jwks.json, so other services can verify
tokens without the secret), while the project keys and any HS256 token signed with the
secret stay valid, as on a Supabase project that moved to asymmetric keys.
"""

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

SYMMETRIC = "HS256"
ASYMMETRIC = ("ES256", "RS256")


class SigningKeyError(Exception):
    """The configured signing key cannot be used; the message says why."""


def generate_private_key(algorithm: str) -> PrivateKeyTypes:
    """A new key for `algorithm` (P-256 for ES256, RSA 2048 for RS256)."""
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_private_key(path: Path, key: PrivateKeyTypes) -> None:
    """Store `key` as unencrypted PKCS#8 PEM, mode 0600 from the first byte."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def load_private_key(path: Path, algorithm: str) -> PrivateKeyTypes:
    """The PEM private key at `path`, checked to fit `algorithm`."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyError(f"cannot read the JWT signing key {path}: {exc}") from None
    fits = (
        isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
        if algorithm == "ES256"
        else isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048
    )
    if not fits:
        raise SigningKeyError(
            f"{path} is not a key for {algorithm} (ES256 needs P-256, RS256 RSA >= 2048 bits)"
        )
    return key


def public_jwk(public_key: PublicKeyTypes, algorithm: str) -> dict[str, Any]:
    """The public key as a JWK with an RFC 7638 thumbprint as its `kid`."""
    algo = jwt.algorithms.ECAlgorithm if algorithm == "ES256" else jwt.algorithms.RSAAlgorithm
    jwk: dict[str, Any] = algo.to_jwk(public_key, as_dict=True)  # type: ignore[arg-type]
    required = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n")
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return {**jwk, "kid": kid, "alg": algorithm, "use": "sig", "key_ops": ["verify"]}


@dataclass(frozen=True)
class SigningKeys:
    """How tokens are signed and which keys verify them."""

    secret: str
    algorithm: str = SYMMETRIC
    private_key: PrivateKeyTypes | None = None
    jwk: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, secret: str, algorithm: str, key_file: Path | None) -> "SigningKeys":
        """The keys for the settings: HS256 alone, or HS256 plus the key in `key_file`."""
        if algorithm == SYMMETRIC:
            return cls(secret)
        if key_file is None:
            raise SigningKeyError(f"GPTDESK_JWT_ALGORITHM={algorithm} needs a signing key file")
        private = load_private_key(key_file, algorithm)
        return cls(secret, algorithm, private, public_jwk(private.public_key(), algorithm))

    def sign(self, claims: dict[str, Any]) -> str:
        """A token for `claims`, asymmetric when a private key is configured."""
        if self.private_key is None:
            return jwt.encode(claims, self.secret, algorithm=SYMMETRIC)
        return jwt.encode(
            claims, self.private_key, algorithm=self.algorithm, headers={"kid": self.jwk["kid"]}
        )

    def key_for(self, token: str) -> tuple[Any, list[str]]:
        """The key and the one algorithm that may verify `token`, by its header."""
        if self.private_key is None:
            return self.secret, [SYMMETRIC]  # HS256 only: the decode refuses anything else
        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        if algorithm == SYMMETRIC:
            return self.secret, [SYMMETRIC]
        if self.private_key is not None and algorithm == self.algorithm:
            if header.get("kid") not in (None, self.jwk["kid"]):
                raise jwt.InvalidKeyError("unknown kid")
            return self.private_key.public_key(), [self.algorithm]
        raise jwt.InvalidAlgorithmError(f"the specified alg value is not allowed: {algorithm}")

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public keys for /.well-known/jwks.json (none while only HS256 is used)."""
        return {"keys": [self.jwk] if self.jwk else []}
