"""Temporal workflows: the case lifecycle and its per-hospital referrals."""
