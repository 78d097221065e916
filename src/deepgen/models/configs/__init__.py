"""Each model's config dataclass, one module per model module of deepgen.models, importable without torch:
`deepgen train MODEL --help` reads a model's options from here (see registry.config_class)."""
