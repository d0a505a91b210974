"""Parameter checks: one sentence that names the parameter
and the fix, for every bad value the issues listed."""

import numpy as np
import pytest

from helpers.checks import (
    ParameterError,
    check_choice,
    check_enough_images,
    check_parameters,
    suggest,
)


@pytest.mark.parametrize(
    "parameters, message",
    [
        (
            {"IMAGE_SIZE": -5},
            "IMAGE_SIZE = -5 is not allowed: set IMAGE_SIZE to an integer from 32 to 1024.",
        ),
        (
            {"BATCH_SIZE": 0},
            "BATCH_SIZE = 0 is not allowed: set BATCH_SIZE to an integer from 1 to 4096.",
        ),
        (
            {"MAX_TRAIN": 3},
            "MAX_TRAIN = 3 is not allowed: set MAX_TRAIN to an integer from 4 up "
            "(or None for all).",
        ),
        ({"IMAGE_SIZE": 96.0}, "IMAGE_SIZE = 96.0 is not allowed"),
        ({"VIEWS": True}, "VIEWS = True is not allowed: set VIEWS to an integer from 1 to 8."),
        ({"DROPOUT": 1.5}, "DROPOUT = 1.5 is not allowed: set DROPOUT to a number from 0 to 0.9."),
    ],
)
def test_bad_parameters_get_one_sentence(parameters, message):
    with pytest.raises(ParameterError) as caught:
        check_parameters(**parameters)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_good_parameters_pass_and_unknown_ones_are_a_programming_error():
    check_parameters(
        IMAGE_SIZE=224, BATCH_SIZE=64, MAX_TRAIN=None, MAX_TEST=120, DROPOUT=0.2, SEED=0
    )
    with pytest.raises(ValueError, match="no rule for parameter NOT_A_PARAMETER"):
        check_parameters(NOT_A_PARAMETER=1)


def test_choices_and_suggestions():
    check_choice("BACKBONE", "mobilenet_v2", ["mobilenet_v2", "resnet50"])
    with pytest.raises(
        ParameterError,
        match="BACKBONE = 'mobilnet_v2' is not allowed \\(did you mean 'mobilenet_v2'\\?\\)",
    ):
        check_choice("BACKBONE", "mobilnet_v2", ["mobilenet_v2", "resnet50"])
    assert (
        suggest("elvp", ["elpv", "eurosat"]) == " (did you mean 'elpv'?)"
        and suggest("zzz", ["elpv"]) == ""
    )


def test_enough_images_per_class():
    check_enough_images(np.array([0, 0, 1, 1, 1]), 2, what="x", fix="y")
    with pytest.raises(
        ParameterError,
        match="5-fold cross-validation needs at least 5 images of each class, "
        "the smallest class has 2: set CV_FOLDS",
    ):
        check_enough_images(
            np.array([0, 0, 1, 1, 1, 1, 1]),
            5,
            what="5-fold cross-validation",
            fix="set CV_FOLDS to 2",
        )
