"""The contact a case names: the directory's entry for the coordinator id, else the team's."""

from caseflow.contacts import CoordinatorContact
from caseflow.settings import CaseflowSettings
from client.coordinator_contacts import coordinator_contact
from client.identities import IdentityStore


def test_the_directory_entry_else_the_settings_address(tmp_path):
    settings = CaseflowSettings(
        data_dir=tmp_path,
        coordinator_email_domain="team.example.org",
        coordination_team="Cross-border Oncology Care",
    )
    store = IdentityStore.from_settings(settings)
    store.add_user(
        "coord-ana", "coordinator", name="Ana Lima", email="ana@care.example.org",
        phone="+44 20 7946 0100", organisation="CancerFax",
    )
    assert coordinator_contact(settings, "coord-ana") == CoordinatorContact(
        coordinator_id="coord-ana", name="Ana Lima", email="ana@care.example.org",
        phone="+44 20 7946 0100", organisation="CancerFax",
    )
    # Unknown, or disabled: the team's address, so a letter still names someone to write to.
    fallback = CoordinatorContact(
        coordinator_id="coord-zed", name="Coordinator coord-zed",
        email="coord-zed@team.example.org", organisation="Cross-border Oncology Care",
    )
    assert coordinator_contact(settings, "coord-zed") == fallback
    store.disable_user("coord-ana")
    assert coordinator_contact(settings, "coord-ana").email == "coord-ana@team.example.org"
    store.close()
