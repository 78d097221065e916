"""Data quality: the checks of a data set before anything trains on it — exact and near duplicates (within a class,
across classes, across the train/test split), grey levels and dynamic range, dark/light/low-information/blurry
images, odd sizes, corrupt files, tiny and unbalanced classes. `deepgen inspect` runs them all (report.py); every
load runs the cheap ones (onload.py). Not to be confused with deepgen.training.health, which watches training runs."""
