"""Email address normalization used to enforce one signature per person (no Django imports)."""

from __future__ import annotations

# Providers that ignore dots in the local part (a.b@gmail.com reaches ab@gmail.com).
_DOT_BLIND_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def normalize_email(address: str) -> str:
    """Return the canonical form of ``address`` for uniqueness checks.

    Lower-cases the whole address, drops a ``+tag`` from the local part for every domain, and,
    for Gmail, drops dots and folds googlemail.com into gmail.com.

    >>> normalize_email(" Jane.Doe+pledge@GoogleMail.com ")
    'janedoe@gmail.com'
    """
    address = address.strip().lower()
    local, sep, domain = address.rpartition("@")
    if not sep or not local or not domain:
        raise ValueError(f"not an email address: {address!r}")
    domain = domain.rstrip(".")
    local = local.split("+", 1)[0]
    if domain in _DOT_BLIND_DOMAINS:
        domain = _DOT_BLIND_DOMAINS[domain]
        local = local.replace(".", "")
    if not local:
        raise ValueError(f"not an email address: {address!r}")
    return f"{local}@{domain}"


def email_domain(address: str) -> str:
    """The domain part of ``address``, lower-cased (googlemail.com folded into gmail.com)."""
    return normalize_email(address).rpartition("@")[2]
