"""The order of a trip's steps: visa letter, visa, flights, arrival. Pure, like the checklist:
the case workflow's validator calls `check_travel_event` and its handler `record_travel_event`."""

from caseflow.case_events import TravelEvent, TravelEventKind
from caseflow.case_status import TravelProgress

VISA_KINDS = frozenset(
    {
        TravelEventKind.VISA_LETTER_REQUESTED,
        TravelEventKind.VISA_LETTER_RECEIVED,
        TravelEventKind.VISA_GRANTED,
        TravelEventKind.VISA_REFUSED,
    }
)


class TravelError(ValueError):
    """A travel step out of order; the message names the field and never PHI."""


def check_travel_event(travel: TravelProgress, event: TravelEvent) -> None:
    """Reject a step the trip is not ready for, or one already recorded."""
    kind = event.kind
    if kind in VISA_KINDS and not travel.visa_needed:
        raise TravelError(f"kind: {kind.value} but this trip needs no visa")
    if kind == TravelEventKind.VISA_LETTER_RECEIVED and travel.visa_letter_received_on:
        raise TravelError("kind: the visa letter is already received")
    if (
        kind in (TravelEventKind.VISA_GRANTED, TravelEventKind.VISA_REFUSED)
        and travel.visa_letter_received_on is None
    ):
        raise TravelError(f"kind: {kind.value} before the visa letter was received")
    if kind == TravelEventKind.VISA_GRANTED and travel.visa_granted_on:
        raise TravelError("kind: the visa is already granted")
    if kind == TravelEventKind.FLIGHTS_BOOKED and travel.visa_needed and not (
        travel.visa_granted_on
    ):
        raise TravelError("kind: flights_booked before the visa was granted")
    if kind == TravelEventKind.ARRIVED and travel.flights_booked_on is None:
        raise TravelError("kind: arrived before flights were booked")
    if kind == TravelEventKind.ARRIVED and travel.arrived_on is not None:
        raise TravelError("kind: arrival is already recorded")


def record_travel_event(travel: TravelProgress, event: TravelEvent) -> bool:
    """Apply a checked step; True when the patient arrived after the planned admission date."""
    kind = event.kind
    if kind == TravelEventKind.VISA_LETTER_REQUESTED:
        travel.visa_letter_requested_on = event.on
    elif kind == TravelEventKind.VISA_LETTER_RECEIVED:
        travel.visa_letter_received_on = event.on
    elif kind == TravelEventKind.VISA_GRANTED:
        travel.visa_granted_on, travel.visa_refused_on = event.on, None
    elif kind == TravelEventKind.VISA_REFUSED:
        travel.visa_refused_on = event.on
    elif kind == TravelEventKind.FLIGHTS_BOOKED:
        travel.flights_booked_on = event.on
        if event.planned_admission_date is not None:
            travel.planned_admission_date = event.planned_admission_date
    else:
        travel.arrived_on = event.on
    planned = travel.planned_admission_date
    return kind == TravelEventKind.ARRIVED and planned is not None and event.on > planned
