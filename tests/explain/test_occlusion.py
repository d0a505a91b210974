"""Channel occlusion: the only informative channel is found, padding is left alone."""

import numpy as np

from helpers.explain.occlusion import channel_occlusion


def test_channel_occlusion_finds_the_only_informative_channel():
    def predict(X):  # class 1 probability rises with channel 2's mean
        p = 1 / (1 + np.exp(-X[:, :, 2].mean(axis=1) * 5))
        return np.stack([1 - p, p], axis=1)

    X = np.zeros((4, 10, 3), np.float32)
    X[:, :, 2] = 1.0
    X[:, :, 0] = np.random.default_rng(5).normal(size=(4, 10))
    drops = channel_occlusion(predict, X, np.ones(4, int))
    assert drops.shape == (4, 3)
    np.testing.assert_allclose(drops[:, [0, 1]], 0.0)
    assert (drops[:, 2] > 0.4).all()
    # padding is left alone: with lengths, only real steps are replaced
    lengths = np.array([5, 5, 5, 5])
    partial = channel_occlusion(predict, X, np.ones(4, int), lengths=lengths)
    assert (partial[:, 2] < drops[:, 2]).all()
