"""The coordinators' surface: the `caseflow` CLI. Talks to Temporal and S3 only through clients."""
