"""Model families; importing this package registers each of them."""

from deepgen.models import ae, vae  # noqa: F401
