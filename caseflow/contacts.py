"""A coordinator's contact details, as letters and e-mails name them: pure, no I/O. Workflows carry
it in their state; client/identities.py reads it from the identity store. Staff data, not PHI."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

COORDINATOR_ID_PATTERN = r"^[a-z0-9_-]{1,40}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
PHONE_PATTERN = r"^\+?[0-9][0-9 ()\-]{5,24}$"


def _printable(value: str) -> str:
    # A name goes into letters and mail headers: no control characters, no surrounding blanks.
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise ValueError("must not contain control characters")
    if value != value.strip():
        raise ValueError("must not start or end with blanks")
    return value


DisplayText = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_printable)]


class CoordinatorContact(BaseModel):
    """Who the patient and the hospital deal with: a real person's name, mail and phone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    coordinator_id: str = Field(pattern=COORDINATOR_ID_PATTERN)
    name: DisplayText
    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN)
    organisation: DisplayText | None = None
