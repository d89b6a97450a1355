"""What makes the shipped CA bundle (shared/certs/rds-global-bundle.pem) deployable: certificates at all, and
the Amazon Trust Services roots RDS Proxy's certificate chains to, which tools/fetch_rds_ca.sh appends to the
RDS CA bundle. A bundle fetched without them verifies the instance but not the proxy, so the build and the
upload refuse it, naming what is missing and the command that fetches it again.

Standard library only: tools/build.py and tools/upload.py run it outside the virtualenv.
"""

from __future__ import annotations

import hashlib
import re
import ssl

__all__ = ["AMAZON_TRUST_ROOTS", "PATH", "problem"]

# Where the bundle lives in the tree and in every database function's zip (shared.config reads it there).
PATH = "shared/certs/rds-global-bundle.pem"

# SHA-256 of each root certificate (DER), as https://www.amazontrust.com/repository/ lists them.
AMAZON_TRUST_ROOTS = {
    "Amazon Root CA 1": "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e",
    "Amazon Root CA 2": "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4",
    "Amazon Root CA 3": "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4",
    "Amazon Root CA 4": "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092",
    "Starfield Services Root Certificate Authority - G2": (
        "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5"
    ),
}

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\s.*?-----END CERTIFICATE-----", re.S)


def fingerprints(pem: str) -> set[str]:
    """The SHA-256 of every certificate in ``pem`` that parses."""
    found = set()
    for block in _PEM.findall(pem):
        try:
            found.add(hashlib.sha256(ssl.PEM_cert_to_DER_cert(block)).hexdigest())
        except ValueError:  # not base64: not a certificate anyone can verify with
            continue
    return found


def problem(pem: bytes | str) -> str | None:
    """None for a deployable bundle; otherwise what is wrong with it, in a few words."""
    text = pem.decode("ascii", "replace") if isinstance(pem, bytes) else pem
    have = fingerprints(text)
    if not have:
        return "holds no certificate"
    missing = [name for name, digest in AMAZON_TRUST_ROOTS.items() if digest not in have]
    if missing:
        return f"lacks the Amazon Trust Services roots RDS Proxy needs ({', '.join(missing)})"
    return None
