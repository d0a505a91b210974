"""Data: image and series data sets, the catalog and downloads,
and the synthetic sets that give localization ground truth."""
