"""The contact a case's letters and mails name: the coordinator directory's entry for the id
(client/identities.py), else one made from settings, so a stack without users still names one."""

from __future__ import annotations

import asyncio

from caseflow.contacts import CoordinatorContact
from caseflow.settings import CaseflowSettings
from client.identities import IdentityStore


def settings_contact(settings: CaseflowSettings, coordinator_id: str) -> CoordinatorContact:
    """The team's address for a coordinator id nobody enabled in the directory holds."""
    return CoordinatorContact(
        coordinator_id=coordinator_id,
        name=f"Coordinator {coordinator_id}",
        email=f"{coordinator_id}@{settings.coordinator_email_domain}",
        organisation=settings.coordination_team,
    )


def coordinator_contact(settings: CaseflowSettings, coordinator_id: str) -> CoordinatorContact:
    """Who to write to about a case assigned to `coordinator_id`, as of now."""
    store = IdentityStore.from_settings(settings)
    try:
        found = store.coordinator_contact(coordinator_id)
    finally:
        store.close()
    return found or settings_contact(settings, coordinator_id)


async def lookup_contact(settings: CaseflowSettings, coordinator_id: str) -> CoordinatorContact:
    """coordinator_contact off the event loop (the store is synchronous SQL)."""
    return await asyncio.to_thread(coordinator_contact, settings, coordinator_id)
