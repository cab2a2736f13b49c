"""Plausible wrong answers for source/00_setup/setup.ipynb (see docs/authoring.md)."""

def _mse(body):
    return f"def mean_squared_error(predicted, true):\n    {body}"


def _line(body):
    return f"def fit_line(x, y):\n    {body}"


WRONG_ANSWERS = [
    dict(
        solution="mse",
        test="test-mse",
        why="mean absolute error instead of mean squared error",
        code=_mse("return np.mean(np.abs(predicted - true))"),
    ),
    dict(
        solution="mse",
        test="test-mse",
        why="sum of squared errors, not divided by n",
        code=_mse("return np.sum((predicted - true) ** 2)"),
    ),
    dict(
        solution="mse",
        test="test-mse",
        why="root mean squared error",
        code=_mse("return np.sqrt(np.mean((predicted - true) ** 2))"),
    ),
    dict(
        solution="mse",
        test="test-mse",
        why="forgets to square: the mean error cancels out",
        code=_mse("return np.mean(predicted - true)"),
    ),
    dict(
        solution="mse",
        test="test-mse",
        why="returns the expected number instead of computing it",
        code=_mse("return 18.8"),
    ),
    dict(
        solution="mse",
        test="test-mse",
        why="computes from the notebook's ages, not from its arguments",
        code=_mse("return np.mean((predicted_age - true_age) ** 2)"),
    ),
    dict(
        solution="fit-line",
        test="test-fit-line",
        why="swaps x and y in np.polyfit",
        code=_line("return tuple(np.polyfit(y, x, deg=1))"),
    ),
    dict(
        solution="fit-line",
        test="test-fit-line",
        why="reads the coefficients in the wrong order (polyfit returns the slope first)",
        code=_line("intercept, slope = np.polyfit(x, y, deg=1)\n    return slope, intercept"),
    ),
    dict(
        solution="fit-line",
        test="test-fit-line",
        why="returns the expected numbers instead of fitting",
        code=_line("return -0.003822, 1.0268"),
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
        why="an unshuffled slice from the head (passed the old test)",
        code="test_ids = participants[:5]\ntrain_ids = participants[5:]",
    ),
    dict(
        solution="split",
        test="test-split",
        why="every fourth ID: systematic, not random",
        code="test_ids = participants[::4]\ntrain_ids = [p for p in participants if p not in test_ids]",
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
