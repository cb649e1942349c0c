"""Scheduling: when digests are due, and which gateway makes them.

``weekly`` is the schedule itself (a subscription's day, time and zone, turned into APScheduler
triggers; the ``/subscribe`` words that name it are read in ``bot.commands.subscribe_args``);
``scheduler`` runs one APScheduler job per subscription (kept by ``bot.store.jobs``) and records
due digests through ``bot.store.digests``; ``leader`` elects the one gateway per database that
runs it. Scheduling imports no command module.
"""
