"""Data in: IDX files, named datasets (local folders, downloads, scikit-learn's digits), preprocessing."""
