"""Evaluation against a running assistant, one implementation for the tests, the bench and retraining.

- :mod:`bot.evaluation.replies`: sending a message, and what a visitor sees of a reply;
- :mod:`bot.evaluation.grading`: the shared grader (``../shared/eval/grade.py``) on a case set;
- :mod:`bot.evaluation.crisis`: emergency recall and over-escalation on a crisis suite.
"""
