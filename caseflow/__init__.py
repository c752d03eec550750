"""caseflow's case model and rules: pure and deterministic, safe inside the workflow sandbox."""
