"""The embedded stack: Temporal dev server with its Web UI, SeaweedFS S3 and an SMTP sink, all on
loopback, started and stopped by the project itself."""
