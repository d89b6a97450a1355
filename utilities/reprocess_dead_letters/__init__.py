"""reprocess_dead_letters: reads dead letters again through today's schema; the valid ones become rows in errors."""
