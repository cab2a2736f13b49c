"""Plausible wrong answers for source/00_setup/setup.ipynb (see docs/authoring.md)."""

WRONG_ANSWERS = [
    dict(
        solution="mse",
        test="test-mse",
        why="mean absolute error instead of mean squared error",
        code="mse = np.mean(np.abs(predicted_age - true_age))",
    ),
    dict(
        solution="mse",
        test="test-mse",
        why="sum of squared errors, not divided by n",
        code="mse = np.sum((predicted_age - true_age) ** 2)",
    ),
    dict(
        solution="mse",
        test="test-mse",
        why="root mean squared error",
        code="mse = np.sqrt(np.mean((predicted_age - true_age) ** 2))",
    ),
    dict(
        solution="mse",
        test="test-mse",
        why="forgets to square: the mean error cancels out",
        code="mse = np.mean(predicted_age - true_age)",
    ),
    dict(
        solution="fit-line",
        test="test-fit-line",
        why="swaps x and y in np.polyfit",
        code='slope, intercept = np.polyfit(brain["nwbv"], brain["age"], deg=1)',
    ),
    dict(
        solution="fit-line",
        test="test-fit-line",
        why="reads the coefficients in the wrong order (polyfit returns the slope first)",
        code='intercept, slope = np.polyfit(brain["age"], brain["nwbv"], deg=1)',
    ),
    dict(
        solution="predict",
        test="test-predict",
        why="uses the slope and intercept the wrong way round",
        code="nwbv_at_85 = intercept * 85 + slope",
    ),
    dict(
        solution="predict",
        test="test-predict",
        why="np.polyval with the coefficients in the wrong order",
        code="nwbv_at_85 = np.polyval([intercept, slope], 85)",
    ),
    dict(
        solution="predict",
        test="test-predict",
        why="predicts at the wrong age (the mean age of the table)",
        code='nwbv_at_85 = slope * brain["age"].mean() + intercept',
    ),
    dict(
        solution="split",
        test="test-split",
        why="forgets to shuffle: the test set is the tail of a sorted list",
        code="train_ids = participants[:15]\ntest_ids = participants[15:]",
    ),
    dict(
        solution="split",
        test="test-split",
        why="shuffles the test set separately, so IDs end up in both lists",
        code=(
            "train_ids = list(rng.permutation(participants))[:15]\n"
            "test_ids = list(rng.permutation(participants))[15:]"
        ),
    ),
    dict(
        solution="split",
        test="test-split",
        why="off by one: 16 training IDs",
        code=(
            "shuffled = list(rng.permutation(participants))\n"
            "train_ids = shuffled[:16]\n"
            "test_ids = shuffled[16:]"
        ),
    ),
]
