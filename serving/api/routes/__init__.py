"""One router per resource: predictions, the model, health, metrics."""
