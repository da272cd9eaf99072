"""Stream operators, grouped by kind."""
