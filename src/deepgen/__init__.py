"""deepgen: train, compare and use autoencoders, VAEs and GANs on image data."""

__version__ = "0.1.0"
