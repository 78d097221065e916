"""Model families, one module each, registered by `@register` when imported; `deepgen.registry.catalog` finds
them (every module here) without importing them."""
