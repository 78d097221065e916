"""Latent-space tools: embeddings scored by k-NN accuracy, manifold lattices, interpolations, fitted priors."""
