"""The client layer: every coordinator action in one place, called by the `caseflow` CLI and the
web service alike, so a rule is written once. Talks to Temporal and S3 only through clients."""
