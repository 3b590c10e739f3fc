"""The JSON API and its OpenAPI schema."""

from __future__ import annotations

import re

import pytest
from django.utils.dateparse import parse_datetime

from tests.factories import SignatureFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/pledges/strategy-for-belonging/numbers"


def test_it_returns_the_numbers_keyed_by_province_code(client, pledge):
    SignatureFactory.create_batch(2, pledge=pledge, confirmed=True, province="NT")
    SignatureFactory(pledge=pledge, confirmed=True, province="NB", signer_type="association",
                     organization_name="Assoc", sector="faith")
    SignatureFactory(pledge=pledge, province="NB")  # pending
    response = client.get(URL)
    assert response.status_code == 200
    assert re.fullmatch(r"public, max-age=[34]", response["Cache-Control"])
    body = response.json()
    assert body["signatories"] == 3
    assert body["provinces_territories"] == 2
    assert list(body["by_province"]) == ["NL", "PE", "NS", "NB", "QC", "ON", "MB", "SK", "AB", "BC", "YT", "NT", "NU"]
    assert body["by_province"]["NT"] == 2 and body["by_province"]["NB"] == 1
    assert body["by_type"] == {"individual": 2, "association": 1, "organization": 0}
    assert body["by_sector"]["faith"] == 1
    assert parse_datetime(body["updated_at"]) is not None


def test_unknown_pledge_is_a_json_404(client, db):
    response = client.get("/api/v1/pledges/nope/numbers")
    assert response.status_code == 404
    assert response.json() == {"detail": "No pledge with this slug."}
    assert response["Access-Control-Allow-Origin"] == "*"


def test_the_schema_describes_the_endpoint(client, db):
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    operation = schema["paths"]["/api/v1/pledges/{slug}/numbers"]["get"]
    assert set(operation["responses"]) >= {"200", "404"}
    props = schema["components"]["schemas"]["NumbersOut"]["properties"]
    assert {"signatories", "provinces_territories", "by_province", "by_type", "updated_at"} <= set(props)


def test_the_api_is_read_only(client, db):
    assert client.post(URL).status_code == 405
