"""Tests of retraining: the training inbox and answer approvals."""
