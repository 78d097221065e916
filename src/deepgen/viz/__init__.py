"""Pictures: sample grids and loss curves."""
