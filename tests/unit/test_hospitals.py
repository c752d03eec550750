"""The hospital directory: the packaged sample, lookups, and what an entry must carry."""

import json
from importlib import resources

import pytest
from pydantic import ValidationError
from temporalio.contrib.pydantic import pydantic_data_converter

from caseflow.hospitals import Hospital, HospitalDirectory, Modality, UnknownHospitalError


@pytest.fixture(scope="module")
def directory() -> HospitalDirectory:
    return HospitalDirectory.load_default()


def entry(**changes) -> dict:
    base = {
        "hospital_id": "in-test", "name": "Example Test Hospital, Pune", "country": "IN",
        "city": "Pune", "languages": ["en"], "modalities": ["sbrt"], "channel": "manual",
    }
    return base | changes


def test_packaged_json_is_package_data():
    text = resources.files("caseflow").joinpath("hospitals.json").read_text(encoding="utf-8")
    assert len(json.loads(text)["hospitals"]) == 6


def test_sample_entries_are_plainly_fictional(directory):
    assert len(directory.hospitals) == 6
    for hospital in directory.hospitals:
        assert hospital.name.startswith("Example ")
        assert hospital.contact_email is None or hospital.contact_email.endswith(".example.invalid")
        assert hospital.webhook_url is None or hospital.webhook_url.startswith("http://127.0.0.1:")


def test_lookup_by_id_country_and_modality(directory):
    xiamen = directory.get("cn-xiamen-bnct")
    assert (xiamen.country, xiamen.channel) == ("CN", "webhook")
    assert xiamen.offers("bnct")
    assert "cn-xiamen-bnct" in directory and "nowhere" not in directory
    assert {h.hospital_id for h in directory.in_country("IN")} == {
        "in-chennai-proton", "in-mumbai-rlt", "in-delhi-spine-sbrt",
    }
    assert {h.hospital_id for h in directory.offering(Modality.LU_PSMA)} == {"in-mumbai-rlt"}
    assert [h.hospital_id for h in directory.subset(["in-mumbai-rlt", "cn-xiamen-bnct"]).hospitals
            ] == ["in-mumbai-rlt", "cn-xiamen-bnct"]


def test_unknown_hospital_is_a_clear_keyerror(directory):
    with pytest.raises(KeyError) as raised:
        directory.get("us-boston")
    assert isinstance(raised.value, UnknownHospitalError)
    assert str(raised.value).startswith("hospital_id: unknown hospital 'us-boston'; known: cn-")


def test_a_hospital_can_carry_its_own_response_sla(directory):
    own = directory.get("in-mumbai-rlt").response_sla
    assert own is not None and own.escalate_supervisor_after.days == 10
    assert directory.get("cn-beijing-cancer").response_sla is None


@pytest.mark.parametrize(
    ("changes", "loc", "reason"),
    [
        ({"hospital_id": "IN Test"}, "hospital_id", "pattern"),
        ({"country": "US"}, "country", "'IN' or 'CN'"),
        ({"modalities": ["homeopathy"]}, "modalities.0", "Input should be"),
        ({"modalities": []}, "modalities", "at least 1"),
        ({"languages": ["English"]}, "languages", "not a BCP 47 tag"),
        ({"channel": "fax"}, "channel", "Input should be"),
        ({"channel": "email"}, "", "channel 'email' needs contact_email"),
        ({"channel": "webhook"}, "", "channel 'webhook' needs webhook_url"),
        ({"webhook_url": "ftp://x"}, "webhook_url", "pattern"),
        ({"beds": 40}, "beds", "Extra inputs"),
    ],
)
def test_bad_entries_are_rejected(changes, loc, reason):
    with pytest.raises(ValidationError) as raised:
        Hospital.model_validate(entry(**changes))
    errors = {".".join(str(p) for p in e["loc"]): e["msg"] for e in raised.value.errors()}
    assert reason in errors[loc]


def test_duplicate_ids_are_rejected():
    with pytest.raises(ValidationError, match="duplicate hospital_id 'in-test'"):
        HospitalDirectory.model_validate({"hospitals": [entry(), entry(name="Other")]})


def test_round_trips_through_temporals_converter(directory):
    converter = pydantic_data_converter.payload_converter
    [back] = converter.from_payloads(converter.to_payloads([directory]), [HospitalDirectory])
    assert back == directory
