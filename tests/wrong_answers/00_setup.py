"""Plausible wrong answers for source/00_setup/setup.ipynb (see docs/authoring.md)."""

def _mse(body):
    return f"def mean_squared_error(predicted, true):\n    {body}"


def _split(body):
    return (f"def split_ids(ids, n_test, seed):\n    {body}\n\n"
            "train_ids, test_ids = split_ids(participants, n_test=5, seed=0)")


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
        code=_split("ids = list(ids)\n    return ids[:-n_test], ids[-n_test:]"),
    ),
    dict(
        solution="split",
        test="test-split",
        why="an unshuffled slice from the head (passed the old test)",
        code=_split("ids = list(ids)\n    return ids[n_test:], ids[:n_test]"),
    ),
    dict(
        solution="split",
        test="test-split",
        why="hand-picked 'random-looking' IDs (passed the second edition's test)",
        code=(
            _split("test = ['sub-03', 'sub-08', 'sub-11', 'sub-17', 'sub-19']\n"
                   "    return [i for i in ids if i not in test], test")
        ),
    ),
    dict(
        solution="split",
        test="test-split",
        why="hand-picked positions that look random, applied to whatever IDs it is given",
        code=_split("ids = list(ids)\n    test = [ids[k] for k in (2, 7, 10, 16, 18)][:n_test]\n"
                    "    return [i for i in ids if i not in test], test"),
    ),
    dict(
        solution="split",
        test="test-split",
        why="ignores the seed: every call gives the same shuffle",
        code=_split("shuffled = list(np.random.default_rng(0).permutation(ids))\n"
                    "    return shuffled[:-n_test], shuffled[-n_test:]"),
    ),
    dict(
        solution="split",
        test="test-split",
        why="seed shopping: tries seeds until the test set holds no ID from the first half of the list",
        code=_split("for s in range(1000):\n"
                    "        shuffled = list(np.random.default_rng(s).permutation(ids))\n"
                    "        if all(list(ids).index(i) >= len(ids) // 2 for i in shuffled[-n_test:]):\n"
                    "            break\n"
                    "    return shuffled[:-n_test], shuffled[-n_test:]"),
    ),
    dict(
        solution="split",
        test="test-split",
        why="every fourth ID: systematic, not random",
        code=_split("ids = list(ids)\n    test = ids[::4][:n_test]\n"
                    "    return [i for i in ids if i not in test], test"),
    ),
    dict(
        solution="split",
        test="test-split",
        why="shuffles twice, once per list, so IDs end up in both lists",
        code=_split("rng = np.random.default_rng(seed)\n"
                    "    return list(rng.permutation(ids))[:-n_test], list(rng.permutation(ids))[-n_test:]"),
    ),
    dict(
        solution="split",
        test="test-split",
        why="off by one: one test ID too many",
        code=_split("shuffled = list(np.random.default_rng(seed).permutation(ids))\n"
                    "    return shuffled[:-n_test - 1], shuffled[-n_test - 1:]"),
    ),
    dict(
        solution="split",
        test="test-split",
        why="shuffles the caller's list in place (random.shuffle), changing the data it was given",
        code=_split("import random\n    random.Random(seed).shuffle(ids)\n"
                    "    return list(ids[:-n_test]), list(ids[-n_test:])"),
    ),
]
