"""Augmentation for images without an up or a left: the
8 flips/90-degree rotations and mild photometric jitter."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf


def dihedral_view(images: tf.Tensor | np.ndarray, view: int) -> tf.Tensor | np.ndarray:
    """One of the 8 flips/90-degree rotations of a square batch (view 0 is the identity); a numpy
    batch gives a numpy view of it, without copying."""
    transpose = np.transpose if isinstance(images, np.ndarray) else tf.transpose
    if view >= 4:
        images = transpose(images, (0, 2, 1, 3))
    if view % 4 in (1, 3):
        images = images[:, :, ::-1]
    if view % 4 in (2, 3):
        images = images[:, ::-1]
    return images


def random_dihedral(images: tf.Tensor) -> tf.Tensor:
    """Each image of a square batch gets one of the 8 flips/90-degree rotations, drawn at random."""
    n = tf.shape(images)[0]
    draws = tf.random.uniform((3, n, 1, 1, 1)) < 0.5
    images = tf.where(draws[0], tf.transpose(images, (0, 2, 1, 3)), images)
    images = tf.where(draws[1], tf.reverse(images, axis=[2]), images)
    return tf.where(draws[2], tf.reverse(images, axis=[1]), images)


def brightness_contrast(
    images: tf.Tensor, brightness: float = 0.1, contrast: float = 0.1
) -> tf.Tensor:
    """Mild photometric jitter per image: contrast x(1 +-
    ``contrast``) around its mean, then +- ``brightness`` x 255."""
    images = tf.cast(images, tf.float32)
    n = tf.shape(images)[0]
    factor = tf.random.uniform((n, 1, 1, 1), 1.0 - contrast, 1.0 + contrast)
    shift = tf.random.uniform((n, 1, 1, 1), -brightness, brightness) * 255.0
    mean = tf.reduce_mean(images, axis=(1, 2, 3), keepdims=True)
    return tf.clip_by_value((images - mean) * factor + mean + shift, 0.0, 255.0)


def make_augmentation(
    *, dihedral: bool = True, brightness: float = 0.1, contrast: float = 0.1
) -> Callable[[tf.Tensor], tf.Tensor]:
    """An ``augment=`` function for ``image_batches``:
    random flips/rotations and mild brightness/contrast.

    Electroluminescence images of solar cells have no up or left, so all 8 dihedral views are valid;
    strong colour or geometric warps are not.
    """

    def augment(images: tf.Tensor) -> tf.Tensor:
        if dihedral:
            images = random_dihedral(images)
        if brightness or contrast:
            images = brightness_contrast(images, brightness, contrast)
        return images

    return augment
