"""Other libraries: a scikit-learn estimator and conversion to and from PyTorch."""
