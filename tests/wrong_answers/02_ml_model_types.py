"""Plausible wrong answers for source/02_ml_model_types/ml_model_types.ipynb.

See docs/authoring.md: each entry replaces the solution cell ``solution`` by
``code``; the test cell ``test`` must then fail. ``rerun_from`` names an earlier
cell to run again, with the cells after it, when the real answer is restored
(for a wrong answer that rebinds what that cell made).
"""

WRONG_ANSWERS = [
    # Exercise 1: the held-out split
    dict(
        solution="split",
        test="test-split",
        why="forgets stratify=y: the test set gets 9 adults instead of 8",
        code=(
            "def split_participants(X, y, age):\n"
            "    return train_test_split(X, y, age, test_size=0.25, random_state=0)"
        ),
    ),
    dict(
        solution="split",
        test="test-split",
        why="returns the course's provided fallback split instead of splitting what it is given",
        code=(
            "def split_participants(X_, y_, age_):\n"
            "    rows = load_provided('02_split_rows')\n"
            "    train, test = rows['train'], rows['test']\n"
            "    return X[train], X[test], y[train], y[test], age[train], age[test]"
        ),
    ),
    dict(
        solution="split",
        test="test-split",
        why="splits X and the labels in separate calls: rows and labels no longer match",
        code=(
            "def split_participants(X, y, age):\n"
            "    X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)\n"
            "    y_train, y_test, age_train, age_test = train_test_split(\n"
            "        y, age, test_size=0.25, stratify=y, random_state=0)\n"
            "    return X_train, X_test, y_train, y_test, age_train, age_test"
        ),
    ),
    dict(
        solution="split",
        test="test-split",
        why="uses the default-looking 80/20 split instead of 75/25",
        code=(
            "def split_participants(X, y, age):\n"
            "    return train_test_split(X, y, age, test_size=0.2, stratify=y, random_state=0)"
        ),
    ),
    dict(
        solution="split",
        test="test-split",
        why="splits the notebook's X, y and age whatever it is given",
        code=(
            "def split_participants(X_, y_, age_):\n"
            "    return train_test_split(X, y, age, test_size=0.25, stratify=y, random_state=0)"
        ),
    ),
    dict(
        solution="split",
        test="test-split",
        why="takes the last quarter of the rows as the test set (no shuffle, no stratification)",
        code=(
            "def split_participants(X, y, age):\n"
            "    n = len(y) - int(np.ceil(0.25 * len(y)))\n"
            "    return X[:n], X[n:], y[:n], y[n:], age[:n], age[n:]"
        ),
    ),
    dict(
        solution="split",
        test="test-split",
        why="seed shopping: keeps the split seed (2 of 50 tried) whose test set made the models look best",
        code=(
            "def split_participants(X, y, age):\n"
            "    return train_test_split(X, y, age, test_size=0.25, stratify=y, random_state=2)"
        ),
    ),
    # Exercise 2: logistic regression
    dict(
        solution="logreg",
        test="test-logreg",
        why="reports the training accuracy",
        code=(
            "logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))\n"
            "logreg.fit(X_train, y_train)\n"
            "logreg_accuracy = logreg.score(X_train, y_train)"
        ),
    ),
    dict(
        solution="logreg",
        test="test-logreg",
        why="fits the pipeline (and so the scaler) on all the data, test set included",
        code=(
            "logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))\n"
            "logreg.fit(X, y)\n"
            "logreg_accuracy = logreg.score(X_test, y_test)"
        ),
    ),
    dict(
        solution="logreg",
        test="test-logreg",
        why="fits the scaler on the test data (scaler fitted separately, outside the pipeline)",
        code=(
            "scaler = StandardScaler().fit(X_test)\n"
            "logreg = make_pipeline(scaler, LogisticRegression(max_iter=1000))\n"
            "logreg[-1].fit(scaler.transform(X_train), y_train)\n"
            "logreg_accuracy = logreg.score(X_test, y_test)"
        ),
    ),
    dict(
        solution="logreg",
        test="test-logreg",
        why="forgets the scaler",
        code=(
            "logreg = make_pipeline(LogisticRegression(max_iter=1000))\n"
            "logreg.fit(X_train, y_train)\n"
            "logreg_accuracy = logreg.score(X_test, y_test)"
        ),
    ),
    dict(
        solution="logreg",
        test="test-logreg",
        why="seed shopping: re-splits with the seed (2 of 50 tried) whose test set gives the best accuracy",
        rerun_from="split-use",   # it rebinds the split: restore it before the real answer runs again
        code=(
            "X_train, X_test, y_train, y_test, age_train, age_test = train_test_split(X, y, age, test_size=0.25, stratify=y, random_state=2)\n"
            "logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))\n"
            "logreg.fit(X_train, y_train)\n"
            "logreg_accuracy = logreg.score(X_test, y_test)"
        ),
    ),
    # Exercise 3: linear SVM and confusion matrix
    dict(
        solution="svm",
        test="test-svm",
        why="predicts on the training set",
        code=(
            "svm = make_pipeline(StandardScaler(), SVC(kernel='linear'))\n"
            "svm.fit(X_train, y_train)\n"
            "svm_predictions = svm.predict(X_train)\n"
            "svm_confusion = confusion_matrix(y_train, svm_predictions)"
        ),
    ),
    dict(
        solution="svm",
        test="test-svm",
        why="swaps the arguments of confusion_matrix (rows become predictions)",
        code=(
            "svm = make_pipeline(StandardScaler(), SVC(kernel='linear'))\n"
            "svm.fit(X_train, y_train)\n"
            "svm_predictions = svm.predict(X_test)\n"
            "svm_confusion = confusion_matrix(svm_predictions, y_test)"
        ),
    ),
    dict(
        solution="svm",
        test="test-svm",
        why="fits the SVM on all the data before predicting the test set",
        code=(
            "svm = make_pipeline(StandardScaler(), SVC(kernel='linear'))\n"
            "svm.fit(X, y)\n"
            "svm_predictions = svm.predict(X_test)\n"
            "svm_confusion = confusion_matrix(y_test, svm_predictions)"
        ),
    ),
    dict(
        solution="svm",
        test="test-svm",
        why="seed shopping: re-splits with the seed (2) that gave logistic regression its best test accuracy of 50 seeds tried",
        rerun_from="split-use",
        code=(
            "X_train, X_test, y_train, y_test, age_train, age_test = train_test_split(X, y, age, test_size=0.25, stratify=y, random_state=2)\n"
            "svm = make_pipeline(StandardScaler(), SVC(kernel='linear'))\n"
            "svm.fit(X_train, y_train)\n"
            "svm_predictions = svm.predict(X_test)\n"
            "svm_confusion = confusion_matrix(y_test, svm_predictions)"
        ),
    ),
    # Exercise 4: support vector regression
    dict(
        solution="svr",
        test="test-svr",
        why="scores the training set",
        code=(
            "svr = make_pipeline(StandardScaler(), SVR(kernel='linear'))\n"
            "svr.fit(X_train, age_train)\n"
            "svr_mae = mean_absolute_error(age_train, svr.predict(X_train))"
        ),
    ),
    dict(
        solution="svr",
        test="test-svr",
        why="computes the mean squared error instead of the mean absolute error",
        code=(
            "svr = make_pipeline(StandardScaler(), SVR(kernel='linear'))\n"
            "svr.fit(X_train, age_train)\n"
            "svr_mae = np.mean((age_test - svr.predict(X_test)) ** 2)"
        ),
    ),
    dict(
        solution="svr",
        test="test-svr",
        why="fits on all participants, so the test participants were seen in training",
        code=(
            "svr = make_pipeline(StandardScaler(), SVR(kernel='linear'))\n"
            "svr.fit(X, age)\n"
            "svr_mae = mean_absolute_error(age_test, svr.predict(X_test))"
        ),
    ),
    dict(
        solution="svr",
        test="test-svr",
        why="the default model where a linear one is asked: SVR() has an RBF kernel",
        code=(
            "svr = make_pipeline(StandardScaler(), SVR())\n"
            "svr.fit(X_train, age_train)\n"
            "svr_mae = mean_absolute_error(age_test, svr.predict(X_test))"
        ),
    ),
    dict(
        solution="svr",
        test="test-svr",
        why="seed shopping: re-splits with the seed (2) that gave logistic regression its best test accuracy of 50 seeds tried",
        rerun_from="split-use",
        code=(
            "X_train, X_test, y_train, y_test, age_train, age_test = train_test_split(X, y, age, test_size=0.25, stratify=y, random_state=2)\n"
            "svr = make_pipeline(StandardScaler(), SVR(kernel='linear'))\n"
            "svr.fit(X_train, age_train)\n"
            "svr_mae = mean_absolute_error(age_test, svr.predict(X_test))"
        ),
    ),
    # Exercise 5: PCA
    dict(
        solution="pca",
        test="test-pca",
        why="runs PCA on the unscaled data",
        code=(
            "def pca_coordinates(X, n_components):\n"
            "    pca = PCA(n_components=n_components).fit(X)\n"
            "    return pca.transform(X), pca.explained_variance_ratio_"
        ),
    ),
    dict(
        solution="pca",
        test="test-pca",
        why="returns the course's provided PCA result instead of computing it",
        code=(
            "def pca_coordinates(X, n_components):\n"
            "    return load_provided('02_pca')"
        ),
    ),
    dict(
        solution="pca",
        test="test-pca",
        why="wrong axis: PCA of the connections (X.T) instead of the participants",
        code=(
            "def pca_coordinates(X, n_components):\n"
            "    scaled = StandardScaler().fit_transform(X)\n"
            "    pca = PCA(n_components=n_components).fit(scaled.T)\n"
            "    return pca.transform(scaled.T), pca.explained_variance_ratio_"
        ),
    ),
    dict(
        solution="pca",
        test="test-pca",
        why="'scales' by hand over the wrong axis (each participant instead of each connection)",
        code=(
            "def pca_coordinates(X, n_components):\n"
            "    scaled = (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)\n"
            "    pca = PCA(n_components=n_components).fit(scaled)\n"
            "    return pca.transform(scaled), pca.explained_variance_ratio_"
        ),
    ),
    dict(
        solution="pca",
        test="test-pca",
        why="always keeps 10 components, whatever n_components says",
        code=(
            "def pca_coordinates(X, n_components):\n"
            "    scaled = StandardScaler().fit_transform(X)\n"
            "    pca = PCA(n_components=10).fit(scaled)\n"
            "    return pca.transform(scaled), pca.explained_variance_ratio_"
        ),
    ),
    # Exercise 6: correlation of PC 1 with age
    dict(
        solution="pc1",
        test="test-pc1",
        why="correlates the second component with age",
        code="pc1_age_r = np.corrcoef(X_pca[:, 1], age)[0, 1]",
    ),
    dict(
        solution="pc1",
        test="test-pc1",
        why="takes a diagonal entry of the correlation matrix",
        code="pc1_age_r = np.corrcoef(X_pca[:, 0], age)[0, 0]",
    ),
    # Exercise 7: k-means
    dict(
        solution="kmeans",
        test="test-kmeans",
        why="compares the clusters with the six age groups instead of the groups it is given",
        code=(
            "def cluster_and_compare(features, groups, n_clusters):\n"
            "    labels = KMeans(n_clusters=n_clusters, n_init=10, random_state=0).fit_predict(features)\n"
            "    return labels, adjusted_rand_score(phenotype['AgeGroup'], labels)"
        ),
    ),
    dict(
        solution="kmeans",
        test="test-kmeans",
        why="always asks for two clusters",
        code=(
            "def cluster_and_compare(features, groups, n_clusters):\n"
            "    labels = KMeans(n_clusters=2, n_init=10, random_state=0).fit_predict(features)\n"
            "    return labels, adjusted_rand_score(groups, labels)"
        ),
    ),
    dict(
        solution="kmeans",
        test="test-kmeans",
        why="reports the fraction of matching labels (accuracy) instead of the ARI",
        code=(
            "def cluster_and_compare(features, groups, n_clusters):\n"
            "    labels = KMeans(n_clusters=n_clusters, n_init=10, random_state=0).fit_predict(features)\n"
            "    return labels, np.mean(labels == (np.asarray(groups) == np.asarray(groups)[0]))"
        ),
    ),
    dict(
        solution="kmeans",
        test="test-kmeans",
        why="clusters something else than it is given (the known groups themselves): the bypass of issue 11",
        code=(
            "def cluster_and_compare(features, groups, n_clusters):\n"
            "    labels = np.unique(groups, return_inverse=True)[1] % n_clusters\n"
            "    return labels, adjusted_rand_score(groups, labels)"
        ),
    ),
    dict(
        solution="kmeans",
        test="test-kmeans",
        why="clusters the columns (features.T) instead of the rows",
        code=(
            "def cluster_and_compare(features, groups, n_clusters):\n"
            "    KMeans(n_clusters=n_clusters, n_init=10, random_state=0).fit(features.T)\n"
            "    labels = np.arange(len(features)) % n_clusters\n"
            "    return labels, adjusted_rand_score(groups, labels)"
        ),
    ),
    # Exercise 8: the student chooses the cross-validation for decoding brain images
    dict(
        solution="decoding-splits",
        test="test-decoding-splits",
        why="ungrouped shuffled KFold: test trials' run-mates and block-mates are in training (accuracy 1.00)",
        code=(
            "def decoding_splits(hand, run):\n"
            "    from sklearn.model_selection import KFold\n"
            "    return list(KFold(5, shuffle=True, random_state=0).split(np.zeros((len(hand), 1))))"
        ),
    ),
    dict(
        solution="decoding-splits",
        test="test-decoding-splits",
        why="returns the course's provided folds instead of splitting the trials it is given",
        code=(
            "def decoding_splits(hand, run):\n"
            "    folds = load_provided('02_decoding_folds')[0]\n"
            "    return [(np.flatnonzero(folds != f), np.flatnonzero(folds == f)) for f in np.unique(folds)]"
        ),
    ),
    dict(
        solution="decoding-splits",
        test="test-decoding-splits",
        why="stratified by hand, as for the connectomes, but ignores the runs",
        code=(
            "def decoding_splits(hand, run):\n"
            "    from sklearn.model_selection import StratifiedKFold\n"
            "    return list(StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros((len(hand), 1)), hand))"
        ),
    ),
    dict(
        solution="decoding-splits",
        test="test-decoding-splits",
        why="unshuffled KFold with one fold per run: leave-one-run-out only while the rows are sorted by run",
        code=(
            "def decoding_splits(hand, run):\n"
            "    from sklearn.model_selection import KFold\n"
            "    return list(KFold(len(np.unique(run))).split(np.zeros((len(hand), 1))))"
        ),
    ),
    dict(
        solution="decoding-splits",
        test="test-decoding-splits",
        why="groups by the label (leave one hand out) instead of by run",
        code=(
            "def decoding_splits(hand, run):\n"
            "    from sklearn.model_selection import LeaveOneGroupOut\n"
            "    return list(LeaveOneGroupOut().split(np.zeros((len(hand), 1)), hand, groups=hand))"
        ),
    ),
    dict(
        solution="decoding-splits",
        test="test-decoding-splits",
        why="leave one trial out: every other trial of its run and block is in training",
        code=(
            "def decoding_splits(hand, run):\n"
            "    from sklearn.model_selection import LeaveOneOut\n"
            "    return list(LeaveOneOut().split(np.zeros((len(hand), 1))))"
        ),
    ),
    dict(
        solution="decoding-splits",
        test="test-decoding-splits",
        why="in-sample: trains on every trial, the test run included",
        code=(
            "def decoding_splits(hand, run):\n"
            "    return [(np.arange(len(hand)), np.flatnonzero(run == r)) for r in np.unique(run)]"
        ),
    ),
    dict(
        solution="decoding-splits",
        test="test-decoding-splits",
        why="hard-codes the notebook's five runs of 12 sorted trials (ignores its arguments)",
        code=(
            "def decoding_splits(hand, run):\n"
            "    rows = np.arange(60)\n"
            "    return [(rows[rows // 12 != r], rows[rows // 12 == r]) for r in range(5)]"
        ),
    ),
    dict(
        solution="decoding-splits",
        test="test-decoding-splits",
        why="splits by the notebook's run variable, not the one it is given",
        code=(
            "def decoding_splits(hand_, run_):\n"
            "    from sklearn.model_selection import LeaveOneGroupOut\n"
            "    return list(LeaveOneGroupOut().split(np.zeros((len(hand), 1)), hand, groups=run))"
        ),
    ),
]
