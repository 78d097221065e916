"""Model families; importing this package registers each of them."""

from deepgen.models import ae, dcgan, gan, vae, wgan, wgan_gp  # noqa: F401
