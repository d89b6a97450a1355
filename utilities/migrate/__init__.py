"""migrate: applies shared/sql/ migrations in order, once each, under an advisory lock."""
