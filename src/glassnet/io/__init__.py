"""Files out and back in: atomic writes and the safe array archive that model files and checkpoints use."""
