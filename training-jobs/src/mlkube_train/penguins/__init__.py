"""Palmer penguins species classifiers (scikit-learn)."""
