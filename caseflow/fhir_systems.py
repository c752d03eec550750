"""caseflow's own FHIR identifier systems and extension URLs: one owner for the names that the
referral bundle writes and the hospitals' reply Tasks are read by (no FHIR models loaded)."""

# caseflow's own identifier systems and extensions. ".invalid" until an IG is published: the
# URLs only need to be absolute and stable for receivers to key on them.
CASEFLOW_SYSTEM = "https://caseflow.invalid/fhir"
REFERRAL_ID_SYSTEM = f"{CASEFLOW_SYSTEM}/referral-id"
CASE_ID_SYSTEM = f"{CASEFLOW_SYSTEM}/case-id"
DOCUMENT_ID_SYSTEM = f"{CASEFLOW_SYSTEM}/document-id"
HOSPITAL_ID_SYSTEM = f"{CASEFLOW_SYSTEM}/hospital-id"
COORDINATOR_ID_SYSTEM = f"{CASEFLOW_SYSTEM}/coordinator-id"
DOCUMENT_KIND_SYSTEM = f"{CASEFLOW_SYSTEM}/document-kind"
# The letter shows sites and modalities in words; the bundle keeps caseflow's codes.
PRIMARY_SITE_SYSTEM = f"{CASEFLOW_SYSTEM}/primary-site"
MODALITY_SYSTEM = f"{CASEFLOW_SYSTEM}/modality"
CONSENT_PURPOSE_SYSTEM = f"{CASEFLOW_SYSTEM}/consent-purpose"
SHA256_EXTENSION = f"{CASEFLOW_SYSTEM}/StructureDefinition/attachment-sha256"
LINK_EXPIRES_EXTENSION = f"{CASEFLOW_SYSTEM}/StructureDefinition/attachment-url-expires"
TOTAL_DOSE_EXTENSION = f"{CASEFLOW_SYSTEM}/StructureDefinition/rt-total-dose"
FRACTIONS_EXTENSION = f"{CASEFLOW_SYSTEM}/StructureDefinition/rt-fractions"
# RFC 6920 names content by its hash ("ni:///sha-256;<base64url>"): a standard URI, so any
# receiver can check a download against DocumentReference.identifier without caseflow's IG.
URI_SYSTEM = "urn:ietf:rfc:3986"
