"""Activities: every side effect of a case (S3 documents, letters, delivery, notifications)."""
