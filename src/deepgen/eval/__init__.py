"""Evaluation: classifiers trained on real data, and the metrics built on them."""
