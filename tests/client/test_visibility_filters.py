"""The queue's visibility filters: typed or pattern-checked values only, so nothing typed in the
console's filter form can change the query's shape."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from client.cases import visibility_query


def test_every_filter_becomes_one_clause():
    query = visibility_query(
        coordinator_id="coord-ana",
        due_before=date(2026, 3, 1),
        country="IN",
        hospital_id="in-mumbai-rlt",
        open_only=True,
    )
    assert query == (
        'WorkflowType = "CaseWorkflow" AND ExecutionStatus = "Running"'
        ' AND CoordinatorId = "coord-ana" AND SlaDueAt < "2026-03-01T00:00:00Z"'
        ' AND DestinationCountries = "IN" AND Hospitals = "in-mumbai-rlt"'
    )


def test_due_before_takes_an_aware_time_in_utc():
    at = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert visibility_query(due_before=at).endswith('SlaDueAt < "2026-03-01T04:00:00Z"')
    with pytest.raises(ValueError, match="time zone"):
        visibility_query(due_before=datetime(2026, 3, 1, 9, 30))
    assert visibility_query(due_before=datetime(2026, 3, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("country", 'IN" OR WorkflowType != "x', "country"),
        ("country", "in", "country"),
        ("country", "IND", "country"),
        ("hospital_id", 'a" OR Hospitals != "b', "hospital"),
        ("hospital_id", "In-Mumbai", "hospital"),
        ("hospital_id", "x" * 61, "hospital"),
        ("coordinator_id", 'c1" OR CaseStage != "x', "coordinator"),
        ("due_before", '2026-01-01" OR true', "due before"),
    ],
)
def test_a_value_that_would_change_the_query_is_refused(field, value, words):
    with pytest.raises(ValueError, match=words):
        visibility_query(**{field: value})


def test_a_refusal_names_the_filter_not_the_value():
    with pytest.raises(ValueError) as refused:
        visibility_query(hospital_id='zz" OR 1=1')
    assert "OR" not in str(refused.value)
