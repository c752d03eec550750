"""Workflows call activities by method reference and record a failed step under the method's
name, so every activity must be registered under its method's name, as the histories know it."""

import pytest
from temporalio import activity

from activities.documents import DocumentStore
from activities.email_delivery import EmailDelivery
from activities.letters import ReferralLetters
from activities.notifications import CaseMailer
from activities.webhook_delivery import WebhookDelivery

ACTIVITIES = [
    DocumentStore.erase_case_documents,
    ReferralLetters.render_referral_packet,
    ReferralLetters.store_translation_packet,
    CaseMailer.send_notice,
    CaseMailer.send_translation_job,
    WebhookDelivery.deliver_packet_webhook,
    EmailDelivery.deliver_packet_email,
]


@pytest.mark.parametrize("method", ACTIVITIES, ids=lambda m: m.__qualname__)
def test_an_activity_is_registered_under_its_method_name(method):
    definition = activity._Definition.must_from_callable(method)
    assert definition.name == method.__name__


def test_methods_the_client_calls_directly_are_not_activities():
    for method in (
        DocumentStore.store_document,
        DocumentStore.verify_document,
        DocumentStore.presign_document,
    ):
        assert activity._Definition.from_callable(method) is None
