"""Callbacks: objects that the training loop hands its records to (progress bars, gradient norms)."""
