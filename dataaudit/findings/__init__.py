"""Consumers of the passes' findings: ``leaks`` (one table across the leak passes) and ``explain`` (why
validation perplexity is low: the train/val gap, the share the leaks explain, what remains)."""
