"""Augmentation: the 8 dihedral views exactly, random ones drawn from them, mild photometric
jitter."""

import numpy as np
import tensorflow as tf

from helpers.models.augment import (
    brightness_contrast,
    dihedral_view,
    make_augmentation,
    random_dihedral,
)


def test_dihedral_views_are_the_eight_symmetries():
    image = tf.reshape(tf.range(9, dtype=tf.float32), (1, 3, 3, 1))
    views = [dihedral_view(image, v).numpy()[0, ..., 0] for v in range(8)]
    np.testing.assert_array_equal(views[0], np.arange(9).reshape(3, 3))
    np.testing.assert_array_equal(views[1], np.arange(9).reshape(3, 3)[:, ::-1])
    assert len({v.tobytes() for v in views}) == 8


def test_dihedral_view_of_a_numpy_batch_is_the_tensor_one():
    images = np.arange(2 * 3 * 3 * 2, dtype=np.float32).reshape(2, 3, 3, 2)
    for view in range(8):
        np.testing.assert_array_equal(
            dihedral_view(images, view), dihedral_view(tf.constant(images), view).numpy()
        )


def test_random_dihedral_returns_one_of_the_eight_views():
    images = tf.random.uniform((16, 5, 5, 3))
    out = random_dihedral(images).numpy()
    for i in range(16):
        views = [dihedral_view(images[i : i + 1], v).numpy()[0] for v in range(8)]
        assert any(np.array_equal(out[i], view) for view in views)


def test_brightness_contrast_is_mild_and_in_range():
    images = tf.fill((4, 8, 8, 3), 100.0) + tf.random.uniform((4, 8, 8, 3), -50, 50)
    out = brightness_contrast(images, 0.1, 0.1).numpy()
    assert out.min() >= 0 and out.max() <= 255
    mean_shift = np.abs(out.mean(axis=(1, 2, 3)) - images.numpy().mean(axis=(1, 2, 3)))
    assert np.all(mean_shift <= 0.1 * 255 + 1e-3)
    assert not np.allclose(out, images.numpy())
    same = make_augmentation(dihedral=False, brightness=0.0, contrast=0.0)(images).numpy()
    np.testing.assert_allclose(same, images.numpy(), atol=1e-4)
