"""Changing a case's destination countries after intake: which changes the consent ledger
allows, and how a hospital outside the destinations is refused.

A referral to a country needs the patient's referral consent for it [sources.md, "Consent and
erasure": consent per destination country x hospital x purpose], so a country is added only
when such a consent is in force for it (for the country or one of its hospitals).
"""

from collections.abc import Sequence

from caseflow.consent import ConsentLedger
from caseflow.hospitals import Hospital

CHANGE_COMMAND = "caseflow case destinations {case_id} --countries IN,CN --reason ..."


def destination_change_error(
    countries: Sequence[str],
    current: Sequence[Hospital],
    offered: Sequence[Hospital],
    ledger: ConsentLedger,
) -> str | None:
    """Why the case may not go to `countries`, or None. `offered` are the directory's hospitals
    the client sent with the event; `current` those the case already carries."""
    stray = sorted({h.hospital_id for h in offered if h.country not in countries})
    if stray:
        return f"hospitals: {', '.join(stray)} are not in {','.join(countries)}"
    in_scope = {h.hospital_id: h for h in [*current, *offered] if h.country in countries}
    for country in countries:
        hospitals = [h for h in in_scope.values() if h.country == country]
        if not hospitals:
            return f"countries: caseflow knows no hospital in {country}"
        if not any(ledger.allows(country, h.hospital_id, "referral") for h in hospitals):
            return (
                f"countries: no referral consent for {country} is in force; record the "
                "patient's consent for it first (caseflow case consent record)"
            )
    return None


def outside_destinations(
    hospital_id: str, countries: Sequence[str], known: Sequence[str], case_id: str
) -> str:
    """The review's refusal of a hospital the case does not carry."""
    return (
        f"hospital {hospital_id!r} is outside the case's destination countries "
        f"({','.join(countries)}; hospitals {', '.join(known)}); to add a country, "
        + CHANGE_COMMAND.format(case_id=case_id)
    )
