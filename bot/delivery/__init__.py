"""Delivery: sending what the outbox holds, within each platform's limits.

``worker`` is the sender (:class:`~bot.delivery.worker.OutboxWorker`: claims rows through
``bot.store.outbox``, sends them through the channels, records each outcome); ``ratelimit`` keeps
every platform's declared limits for sends and command replies alike (``gate`` orders the replies
oldest first); ``retry`` is the one backoff policy. Import each from its module.
"""
