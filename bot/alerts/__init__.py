"""Staff alerts for flagged conversations, out of the visitor's request path.

An event broker (:mod:`bot.alerts.broker`, configured in ``endpoints.yml``) sees every
tracker event; on an emergency it stores an alert (:mod:`bot.store.alerts`) and a sender
(:mod:`bot.alerts.sender`) delivers it in the background, with retries.
"""
