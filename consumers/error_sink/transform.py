"""error_sink's decisions: each user record becomes an ``errors`` row or a dead letter with a reason (pure).

They live in ``shared.sink``, which reprocess_dead_letters shares; this module names them for the handler,
every name ``shared.sink`` exports and only those.
"""

from shared import sink
from shared.sink import *  # noqa: F403  (the names of sink.__all__)

__all__ = sink.__all__
