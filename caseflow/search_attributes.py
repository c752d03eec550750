"""The custom search attributes ops staff filter cases by in the Web UI.

None of them may ever carry patient data: stages, country codes, hospital ids, escalation state,
a due time and what that wait is for (a wait kind and a hospital id, travel step or follow-up
day), when the stage began, and the opaque coordinator id only.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
PATHWAY = SearchAttributeKey.for_keyword("Pathway")
DESTINATION_COUNTRIES = SearchAttributeKey.for_keyword_list("DestinationCountries")
HOSPITALS = SearchAttributeKey.for_keyword_list("Hospitals")
ESCALATED = SearchAttributeKey.for_bool("Escalated")
ESCALATION_LEVEL = SearchAttributeKey.for_int("EscalationLevel")
# The earliest next SLA step over every open wait, the hospitals' included, and what it waits
# for (caseflow.case_status.Deadline.waits_for, e.g. "hospital_response:cn-xiamen-bnct").
SLA_DUE_AT = SearchAttributeKey.for_datetime("SlaDueAt")
SLA_WAITS_FOR = SearchAttributeKey.for_keyword("SlaWaitsFor")
COORDINATOR_ID = SearchAttributeKey.for_keyword("CoordinatorId")
# When the case entered its stage: the work queue's "time in stage". It changes only with
# CaseStage, so it rides in the same upsert and adds none.
STAGE_ENTERED_AT = SearchAttributeKey.for_datetime("StageEnteredAt")

ALL = (
    CASE_STAGE,
    PATHWAY,
    DESTINATION_COUNTRIES,
    HOSPITALS,
    ESCALATED,
    ESCALATION_LEVEL,
    SLA_DUE_AT,
    SLA_WAITS_FOR,
    COORDINATOR_ID,
    STAGE_ENTERED_AT,
)

# The names the Temporal CLI uses for `--search-attribute NAME=TYPE`.
_CLI_TYPE_NAMES = {
    "KEYWORD": "Keyword",
    "KEYWORD_LIST": "KeywordList",
    "BOOL": "Bool",
    "INT": "Int",
    "DATETIME": "Datetime",
}


def cli_registrations() -> list[str]:
    """`NAME=Type` strings for `temporal server start-dev --search-attribute`."""
    return [f"{key.name}={_CLI_TYPE_NAMES[key.indexed_value_type.name]}" for key in ALL]
