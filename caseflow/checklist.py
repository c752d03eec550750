"""The records checklist: which documents a case needs before specialist review, and why.

Derived from the intake [seed:FAQ-workup, seed:site-additions; docs/sources.md, "Records a
re-irradiation review needs"]; pure and deterministic, so it lives in workflow state and changes
only through the methods below.
"""

from pydantic import BaseModel, ConfigDict, Field

from caseflow.documents import DocumentKind, DocumentRef
from caseflow.intake import Biomarker, CaseIntake, PrimarySite

WORKUP_SOURCE = "seed:FAQ-workup"
SITE_SOURCE = "seed:site-additions"
BNCT_SOURCE = "bnct-trial"
REQUEST_SOURCE = "specialist-request"

_MAX_REASON = 500

_IMAGING = [
    DocumentKind.IMAGING_MRI,
    DocumentKind.IMAGING_CT,
    DocumentKind.IMAGING_PET_CT,
    DocumentKind.DICOM_STUDY,
]


def N_(message: str) -> str:
    """Marks an item's reason for the console's catalogue (web/babel.cfg); the console shows it
    in the reader's language (web/console_words.py reason_words)."""
    return message


class ChecklistError(ValueError):
    """A checklist change that cannot apply; the message names the field and never PHI."""


class ChecklistItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(pattern=r"^[a-z0-9_]{1,60}$")
    title: str
    accepts: list[DocumentKind] = Field(min_length=1)
    reason: str
    source: str
    satisfied_by: list[str] = Field(default_factory=list)
    waived_reason: str | None = None

    @property
    def satisfied(self) -> bool:
        return bool(self.satisfied_by)

    @property
    def waived(self) -> bool:
        return self.waived_reason is not None

    @property
    def done(self) -> bool:
        return self.satisfied or self.waived


def _item(item_id: str, title: str, accepts: list[DocumentKind], reason: str, source: str):
    return ChecklistItem(
        item_id=item_id, title=title, accepts=accepts, reason=reason, source=source
    )


# What a "need more records" request for a kind adds; kinds not listed get a generic item.
_REQUESTABLE: dict[DocumentKind, tuple[str, str, str]] = {
    DocumentKind.BORON_PET: (
        "boron_pet",
        "Boron (FBPA) PET with tumour/normal ratio",
        BNCT_SOURCE,
    ),
}


class RecordsChecklist(BaseModel):
    """The case's required records. Mutable on purpose: it is workflow state."""

    model_config = ConfigDict(extra="forbid")

    items: list[ChecklistItem] = Field(default_factory=list)

    @classmethod
    def build(cls, intake: CaseIntake) -> "RecordsChecklist":
        """The workup for this intake: the five-item minimum plus the site-specific additions.

        Workup item 4 (the prior RT completion date) is not a document: the intake requires it
        for every course, so it is implied here and the RT-free interval comes from the intake.
        The boron PET is not added here: the BNCT centre asks for it [bnct-trial], and the
        specialist's "need more records" (`request_more`) adds it then.
        """
        clinical = intake.clinical
        site = clinical.primary_site
        items = [
            _item("biopsy", "Biopsy report of the recurrence", [DocumentKind.BIOPSY_REPORT],
                  N_("Confirms viable recurrent tumour, not radiation fibrosis."), WORKUP_SOURCE),
            _item("imaging", "Recent MRI, CT or PET-CT", list(_IMAGING),
                  N_("Cross-sectional imaging delineates the recurrence volume."), WORKUP_SOURCE),
            _item("prior_rt_dosimetry", "Prior RT dose plan or DVHs",
                  [DocumentKind.RT_DOSE_PLAN, DocumentKind.DVH],
                  N_("Without prior dosimetry, safe re-irradiation planning is not possible; "
                     "cumulative organ-at-risk doses come from the plan and its DVHs."),
                  WORKUP_SOURCE),
            _item("prior_rt_summary", "Prior RT treatment summary",
                  [DocumentKind.RT_TREATMENT_SUMMARY],
                  N_("Confirms technique, dose and the completion date given at intake, which "
                     "sets the RT-free interval."), WORKUP_SOURCE),
            _item("performance_status", "Performance status assessment",
                  [DocumentKind.PERFORMANCE_STATUS],
                  N_("Performance status weighs in every re-irradiation decision."), WORKUP_SOURCE),
            _item("organ_function", "Organ function (labs)", [DocumentKind.LABS],
                  N_("Organ function shows whether systemic or radioligand options are safe."),
                  WORKUP_SOURCE),
        ]
        if site == PrimarySite.PROSTATE:
            items.append(_item("psma_pet", "PSMA PET", [DocumentKind.PSMA_PET],
                               N_("Localises prostate recurrence for PSMA-directed SBRT or "
                                  "Lu-177 PSMA therapy."), SITE_SOURCE))
        if site == PrimarySite.BRAIN:
            items.append(_item("brain_mri", "Brain MRI", [DocumentKind.IMAGING_MRI],
                               N_("MRI is the imaging for brain recurrence (SRS/FSRT planning)."),
                               SITE_SOURCE))
        if site == PrimarySite.SPINE:
            items.append(_item("spine_mri", "Spine MRI", [DocumentKind.IMAGING_MRI],
                               N_("Shows cord and epidural extent for re-irradiation SBRT."),
                               SITE_SOURCE))
            items.append(_item("spine_sins", "SINS assessment",
                               [DocumentKind.SPINE_SINS_ASSESSMENT],
                               N_("SINS of 13 or more calls for surgical stabilisation to be "
                                  "considered."), SITE_SOURCE))
        # Targeted therapy is in question when a biomarker is reported or the seed's table
        # lists mutation-directed salvage for the site (lung: osimertinib; cervix: MSI-H/PD-L1).
        # PSMA+ is read off the PSMA PET, not a molecular report, so it alone asks for none.
        molecular = [b for b in clinical.biomarkers if b != Biomarker.PSMA_POSITIVE]
        if molecular or site in (PrimarySite.LUNG, PrimarySite.CERVIX_UTERUS):
            items.append(_item("molecular_report", "Molecular / biomarker report",
                               [DocumentKind.MOLECULAR_REPORT],
                               N_("Decides targeted agents or checkpoint inhibitors."),
                               SITE_SOURCE))
        return cls(items=items)

    # -- queries -------------------------------------------------------------------------------

    def item(self, item_id: str) -> ChecklistItem:
        for candidate in self.items:
            if candidate.item_id == item_id:
                return candidate
        known = ", ".join(i.item_id for i in self.items)
        raise ChecklistError(f"item_id: unknown checklist item {item_id!r}; known: {known}")

    def missing(self) -> list[ChecklistItem]:
        return [i for i in self.items if not i.done]

    @property
    def complete(self) -> bool:
        return not self.missing()

    def items_accepting(self, kind: DocumentKind) -> list[ChecklistItem]:
        return [i for i in self.items if kind in i.accepts]

    # -- validation without change, for workflow update validators ------------------------------

    def check_waiver(self, item_id: str, reason: str) -> None:
        _check_reason(reason)
        target = self.item(item_id)
        if target.satisfied:
            raise ChecklistError(
                f"item_id: {item_id!r} is already satisfied by a document; nothing to waive"
            )

    def check_request(self, kinds: list[DocumentKind], reason: str) -> None:
        _check_reason(reason)
        if not kinds:
            raise ChecklistError("kinds: name at least one document kind")
        known = {k.value for k in DocumentKind}
        for kind in kinds:
            if kind not in known:
                raise ChecklistError(f"kinds: unknown document kind {kind!r}")

    # -- changes -------------------------------------------------------------------------------

    def satisfy(self, ref: DocumentRef) -> list[str]:
        """Record a document against every item that accepts its kind; returns those item ids.

        Idempotent: the same document twice is recorded once. An empty list means the checklist
        has no item for that kind (the document is still kept by the case).
        """
        hit = []
        for target in self.items_accepting(ref.kind):
            if ref.document_id not in target.satisfied_by:
                target.satisfied_by.append(ref.document_id)
            hit.append(target.item_id)
        return hit

    def waive(self, item_id: str, reason: str) -> ChecklistItem:
        """A coordinator waives an item (e.g. dosimetry lost); waiving again updates the reason."""
        self.check_waiver(item_id, reason)
        target = self.item(item_id)
        target.waived_reason = reason.strip()
        return target

    def request_more(self, kinds: list[DocumentKind], reason: str) -> list[str]:
        """A specialist's "need more records": add an item per kind, or re-open an existing one.

        Re-opening clears earlier documents and waivers, because the specialist asked for
        something the case does not have yet (e.g. a newer scan). Returns the item ids now open.
        """
        self.check_request(kinds, reason)
        reason = reason.strip()
        opened = []
        for kind in dict.fromkeys(DocumentKind(k) for k in kinds):
            item_id, title, source = _REQUESTABLE.get(
                kind, (f"more_{kind.value}", f"Requested: {kind.value.replace('_', ' ')}",
                       REQUEST_SOURCE)
            )
            existing = next((i for i in self.items if i.item_id == item_id), None)
            if existing is None:
                self.items.append(_item(item_id, title, [kind], reason, source))
            else:
                existing.satisfied_by.clear()
                existing.waived_reason = None
                existing.reason = reason
            opened.append(item_id)
        return opened


def _check_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise ChecklistError("reason: must not be empty")
    if len(reason) > _MAX_REASON:
        raise ChecklistError(f"reason: at most {_MAX_REASON} characters")
