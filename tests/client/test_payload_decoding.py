"""Which workflow and case a decode is for, from what the UI or a tool sends."""

from caseflow.ids import case_workflow_id, new_case_id, referral_workflow_id
from client.payload_decoding import case_of_workflow, workflow_of


def test_the_workflow_comes_from_the_proxied_ui_page_or_the_tool_header():
    case_id = new_case_id()
    workflow_id = case_workflow_id(case_id)
    page = f"http://127.0.0.1:8000/ops/temporal/namespaces/default/workflows/{workflow_id}/r1/history"
    assert workflow_of(None, page) == workflow_id
    assert workflow_of("explicit-id", page) == "explicit-id"
    workflow_list = "http://127.0.0.1:8000/ops/temporal/namespaces/default/workflows"
    assert workflow_of(None, workflow_list) is None
    assert workflow_of(None, None) is None
    assert workflow_of("bad id with spaces", None) is None


def test_a_case_and_its_referrals_belong_to_the_case():
    case_id = new_case_id()
    assert case_of_workflow(case_workflow_id(case_id)) == case_id
    assert case_of_workflow(referral_workflow_id(case_id, "in-mumbai-tmh")) == case_id
    assert case_of_workflow("some-other-workflow") is None
    assert case_of_workflow(None) is None
