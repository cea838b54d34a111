"""Readers' addresses: hashed with a secret key on arrival, never stored.

The keyed hash (HMAC-SHA256) is stable for one installation, so rate limits, duplicate checks
and bans work, but it cannot be reversed by trying all addresses without the key. IPv6 readers
usually own a whole /64, so the hash covers that prefix.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from flask import current_app, request


def _key() -> bytes:
    key = current_app.config.get("SOURCE_HASH_KEY")
    if key:
        return key.encode()
    # Derived from the secret key under a label of its own, so the two never coincide.
    return hmac.new(current_app.config["SECRET_KEY"].encode(), b"source-hash", "sha256").digest()


def source_hash(address: str | None) -> str | None:
    """The keyed hash of a client address (for IPv6, of its /64 prefix); None when unknown."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        normalized = address.strip()
    else:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if isinstance(ip, ipaddress.IPv6Address):
            normalized = str(ipaddress.IPv6Network(f"{ip}/64", strict=False).network_address)
            normalized += "/64"
        else:
            normalized = str(ip)
    return hmac.new(_key(), normalized.encode(), hashlib.sha256).hexdigest()


def address_hash(address: str) -> str:
    """The keyed hash of an e-mail address (stripped, lower-cased), 64 hex digits: how readers'
    mail settings and the suppression list know an address without keeping it."""
    digest = hmac.new(_key(), b"email:" + address.strip().lower().encode(), hashlib.sha256)
    return digest.hexdigest()


def email_hash(address: str) -> str:
    """A keyed hash of a (lower-cased) e-mail address, for bans that outlive an erasure."""
    return "erased:" + address_hash(address)


def request_source() -> str | None:
    """The keyed hash of the current request's client address."""
    return source_hash(request.remote_addr)
