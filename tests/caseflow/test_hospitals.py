"""The hospital directory: the packaged sample, lookups, and what an entry must carry."""

import json
import re
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


def _intake(hospital_ids, countries=("IN", "CN"), consent_hospital=None, consent_country="CN"):
    from caseflow.intake import CaseIntake
    from tests.caseflow.test_intake import intake_data

    data = intake_data()
    data["destinations"] = {"countries": list(countries), "hospital_ids": hospital_ids}
    data["consents"][0].update(hospital_id=consent_hospital, country=consent_country)
    return CaseIntake.model_validate(data)


def test_intake_hospitals_that_exist_in_chosen_countries_pass(directory):
    directory.check_intake_hospitals(
        _intake(["cn-xiamen-bnct", "in-chennai-proton"], consent_hospital="cn-xiamen-bnct")
    )


@pytest.mark.parametrize(
    ("intake_args", "message"),
    [
        ((["cn-xiamen-bnct", "us-boston"],),
         "destinations.hospital_ids.1: unknown hospital 'us-boston'"),
        ((["cn-xiamen-bnct"], ("IN",)),
         "destinations.hospital_ids.0: hospital 'cn-xiamen-bnct' is in CN, not in"),
        (([], ("IN", "CN"), "nowhere"), "consents.0.hospital_id: unknown hospital 'nowhere'"),
        (([], ("IN", "CN"), "in-mumbai-rlt", "CN"),
         "consents.0.hospital_id: hospital 'in-mumbai-rlt' is not in CN"),
    ],
)
def test_intake_hospital_mismatches_are_rejected(directory, intake_args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        directory.check_intake_hospitals(_intake(*intake_args))
