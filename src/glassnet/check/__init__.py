"""Finding the bug: the finite-difference gradient checker, the diagnosis of its failures, the doctor
for a training run, and the step-by-step derivations of ``glassnet explain``."""
