"""Built-in non-solver policies: heuristics and exact dynamic programming."""
