"""Notifications: who hears about what happens, by mail and by webhook.

The flow, one file each:

* :mod:`.outbox` — the transactional outbox. A submission or decision writes an *event* row in
  its own transaction; nothing is sent inside a request. Workers claim due rows with a lease.
* :mod:`.worker` — ``flask --app wsgi outbox work``: claims rows, expands events, sends.
* :mod:`.readers` — readers' addresses: double opt-in, unsubscribe, suppression; their mails.
* :mod:`.moderators` — moderators' mails: each new comment, digests, overdue alerts.
* :mod:`.webhooks` — sites' webhooks: signed JSON or Slack-style calls, retries, pausing.
* :mod:`.mail` — composing (German or English, text and HTML) and sending (SMTP or console).
"""
