"""The model and its loss: layers with hand-written backward closures, the Sequential model,
the losses, and the objective (loss + L2) with its gradient."""
