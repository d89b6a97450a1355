"""shared.migrations.scram_verifier: the verifier PostgreSQL stores, checked against RFC 7677's SCRAM-SHA-256
exchange (user "user", password "pencil"): a verifier that authenticates that exchange is the right one."""

import base64
import hashlib
import hmac

import pytest

from shared import migrations

SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
NONCE = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
AUTH_MESSAGE = f"n=user,r=rOprNGfwEbeRWgbNEkqO,r={NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r={NONCE}".encode()
CLIENT_PROOF = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
SERVER_SIGNATURE = base64.b64decode("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")


def parse(verifier: str) -> tuple[int, bytes, bytes, bytes]:
    scheme, _, rest = verifier.partition("$")
    assert scheme == "SCRAM-SHA-256"
    head, _, keys = rest.partition("$")
    iterations, _, salt = head.partition(":")
    stored, _, server = keys.partition(":")
    return int(iterations), base64.b64decode(salt), base64.b64decode(stored), base64.b64decode(server)


def test_the_verifier_authenticates_rfc_7677s_exchange():
    iterations, salt, stored_key, server_key = parse(migrations.scram_verifier("pencil", salt=SALT))
    assert (iterations, salt) == (4096, SALT)
    # The server proves itself with ServerKey; the client's proof recovers ClientKey, whose hash is StoredKey.
    assert hmac.new(server_key, AUTH_MESSAGE, hashlib.sha256).digest() == SERVER_SIGNATURE
    signature = hmac.new(stored_key, AUTH_MESSAGE, hashlib.sha256).digest()
    client_key = bytes(a ^ b for a, b in zip(CLIENT_PROOF, signature, strict=True))
    assert hashlib.sha256(client_key).digest() == stored_key


def test_a_fresh_salt_each_time_and_never_the_password():
    first, second = migrations.scram_verifier("s3cret-pass"), migrations.scram_verifier("s3cret-pass")
    assert first != second
    assert "s3cret-pass" not in first
    assert len(parse(first)[1]) == 16


def test_non_ascii_passwords_are_refused():
    with pytest.raises(ValueError, match="ASCII"):
        migrations.scram_verifier("pässword")
