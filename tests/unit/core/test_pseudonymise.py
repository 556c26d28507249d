"""Keyed pseudonyms of personal data."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from airflow_provider_soundlink.core.pseudonymise import PERSONAL_LINK_STATS_FIELDS, pseudonymise


def test_pseudonym_is_the_hex_hmac_sha256_of_the_value_under_the_key() -> None:
    expected = hmac.new(b"secret", b"203.0.113.7", hashlib.sha256).hexdigest()

    assert pseudonymise("203.0.113.7", "secret") == expected
    assert len(expected) == 64


def test_known_vector() -> None:
    # RFC 4231 test case 2.
    assert (
        pseudonymise("what do ya want for nothing?", "Jefe")
        == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_same_value_same_key_same_pseudonym_and_the_key_matters() -> None:
    assert pseudonymise("fan@example.com", "k1") == pseudonymise("fan@example.com", "k1")
    assert pseudonymise("fan@example.com", "k1") != pseudonymise("fan@example.com", "k2")
    assert pseudonymise("fan@example.com", "k1") != pseudonymise("fan2@example.com", "k1")


def test_a_plain_hash_is_not_what_is_stored() -> None:
    assert pseudonymise("10.0.0.1", "k") != hashlib.sha256(b"10.0.0.1").hexdigest()


def test_non_ascii_values_are_hashed_as_utf8() -> None:
    assert pseudonymise("jürgen@example.de", "clé") == (
        hmac.new("clé".encode(), "jürgen@example.de".encode(), hashlib.sha256).hexdigest()
    )


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="pseudonymisation key is empty"):
        pseudonymise("10.0.0.1", "")


def test_personal_fields_are_ip_and_subscriber_id() -> None:
    assert frozenset({"ip", "subscriber_id"}) == PERSONAL_LINK_STATS_FIELDS
