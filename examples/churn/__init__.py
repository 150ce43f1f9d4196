"""The bundled churn model: a seeded customer generator with a causal story, the training that
writes models/churn/, and realistic (optionally shifted) traffic for a running service."""
