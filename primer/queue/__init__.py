"""The grading queue: feedback minutes after Submit, for the assignments an instructor turns it on for.

A hub-managed service (``primer.queue.service``, started by the hub as root)
watches the course's exchange ``inbound/`` for new submissions of enabled
assignments. For each one, in the order they arrived:

1. ``collect``: the one inbound entry is vetted and copied exactly as the
   course's collect does (primer.exchange.SafeExchangeCollect: owner, links,
   timestamp);
2. the sandboxed grading unit grades it (``primer grade-one``, a worker slot of
   its own, a time limit, a lower CPU priority than the hub);
3. ``record`` (run as the course owner, as the formgrader is): the trusted merge
   records the result in the gradebook as ``nbgrader autograde`` would, the
   feedback is generated with the queue's template (provisional, scores shown
   or not) and released to that student only.

``journal`` is the queue's durable memory (SQLite, root only): what was seen,
what is waiting, what was graded. ``settings`` lists the hub's PRIMER_QUEUE_*
variables; ``primer queue enable <assignment>`` (``primer.queue.cli``) turns it on.
"""
