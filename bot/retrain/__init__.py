"""Retraining from what visitors really ask (issue 14).

* :mod:`bot.retrain.inbox`: the training inbox: visitor messages not understood, answered with
  low confidence or marked by staff, exported for an admin to label (``python -m bot inbox``);
* :mod:`bot.retrain.inbox_apply` and :mod:`bot.retrain.training_data`: merging the labelled
  examples into ``data/nlu/`` (text-level edits that keep the files' layout and comments);
* :mod:`bot.retrain.approvals`: who approved each answer's text and when
  (``data/approvals.yml``, ``python -m bot answers``); retraining refuses to promote a model
  while :func:`bot.retrain.approvals.pending` is not empty;
* training, the gate, promotion and rollback: ``python -m bot retrain``.
"""
