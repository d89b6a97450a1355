"""error_sink's decisions: each user record becomes an ``errors`` row or a dead letter with a reason (pure).

They live in ``shared.sink``, which reprocess_dead_letters shares; this module names them for the handler.
"""

from shared.sink import (
    DEAD_LETTER_COLUMNS,
    DEAD_LETTER_KEY,
    ERROR_COLUMNS,
    ERROR_KEY,
    WHOLE_RECORD,
    Outcome,
    Plan,
    copy_line,
    plan,
    refused,
    storable,
    stream,
    take,
)

__all__ = [
    "DEAD_LETTER_COLUMNS",
    "DEAD_LETTER_KEY",
    "ERROR_COLUMNS",
    "ERROR_KEY",
    "WHOLE_RECORD",
    "Outcome",
    "Plan",
    "copy_line",
    "plan",
    "refused",
    "storable",
    "stream",
    "take",
]
