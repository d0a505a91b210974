"""Past one machine: the frozen featurizer and LightGBM on
a Dask cluster (local by default, any cluster by address)."""
