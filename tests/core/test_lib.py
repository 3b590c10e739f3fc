"""Pure helpers in belonging/lib: email normalization and postal codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from belonging.lib.emails import email_domain, normalize_email
from belonging.lib.postal import PostalCodeError, check_postal_code, normalize_postal_code, province_for_postal_code


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Jane.Doe@Example.ORG", "jane.doe@example.org"),
        ("jane+pledge@example.org", "jane@example.org"),
        ("J.a.n.e+x@gmail.com", "jane@gmail.com"),
        ("jane.doe@googlemail.com", "janedoe@gmail.com"),
        ("  jane@example.org  ", "jane@example.org"),
        ("jane.doe@outlook.com", "jane.doe@outlook.com"),
    ],
)
def test_it_normalizes_emails(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("raw", ["", "no-at-sign", "@example.org", "+tag@example.org", "jane@"])
def test_it_refuses_what_is_not_an_email(raw):
    with pytest.raises(ValueError):
        normalize_email(raw)


local = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.", min_size=1, max_size=20).filter(
    lambda s: s.strip(".")
)


@given(local=local, tag=st.text(alphabet="abcxyz0123456789", max_size=8), upper=st.booleans())
def test_gmail_variants_fold_to_one_address(local, tag, upper):
    plain = normalize_email(f"{local.replace('.', '')}@gmail.com")
    variant = f"{local}+{tag}@GMail.com" if tag else f"{local}@gmail.com"
    assert normalize_email(variant.upper() if upper else variant) == plain
    assert normalize_email(plain) == plain  # idempotent
    assert email_domain(variant) == "gmail.com"


@pytest.mark.parametrize(
    ("raw", "province"),
    [
        ("k1a 0b1", "ON"),
        ("H2X1Y4", "QC"),
        ("A1C 5M2", "NL"),
        ("B3H 4R2", "NS"),
        ("C1A 4P3", "PE"),
        ("E1C 4M3", "NB"),
        ("R3C 4T3", "MB"),
        ("S4P 3Y2", "SK"),
        ("T2P 1J9", "AB"),
        ("V6B 1A1", "BC"),
        ("Y1A 2C6", "YT"),
        ("X1A 2L9", "NT"),
        ("X0E 0N0", "NT"),
        ("X0A 0H0", "NU"),
        ("X0C 0A0", "NU"),
    ],
)
def test_it_finds_the_province_of_a_postal_code(raw, province):
    code = check_postal_code(raw, province)
    assert code == normalize_postal_code(raw)
    assert province_for_postal_code(code) == province
    assert len(code) == 7 and code[3] == " "


@pytest.mark.parametrize("raw", ["", "12345", "K1A0B", "D1A 1A1", "K1A 1O1", "W1A 1A1", "Z1A 1A1", "K1A 0B1 2"])
def test_it_refuses_malformed_postal_codes(raw):
    with pytest.raises(PostalCodeError) as exc:
        normalize_postal_code(raw)
    assert exc.value.code == "format"


@pytest.mark.parametrize(("raw", "province"), [("K1A 0B1", "QC"), ("X0A 0H0", "NT"), ("X1A 2L9", "NU"), ("X0X 0X0", "NU")])
def test_it_refuses_a_postal_code_from_another_province(raw, province):
    with pytest.raises(PostalCodeError) as exc:
        check_postal_code(raw, province)
    assert exc.value.code == "province"
