"""Plausible wrong answers for source/03_ml_evaluation/ml_evaluation.ipynb.

Each entry replaces one solution cell; the named test cell must then fail.
"""

SENSITIVITY = "def sensitivity_specificity(y_true, y_pred):\n"
SELECTION = "def leaky_and_proper(X, labels, cv):\n"
REGRESSION = "def cross_validated_age(X, age, cv):\n"
GROUPS = "def new_person_scores(model, X, y, person):\n"

WRONG_ANSWERS = [
    dict(
        solution="eval-split",
        test="test-eval-split",
        why="reports the training accuracy as the test accuracy",
        code="""
X_train, X_test, y_train, y_test = train_test_split(
    X_base, y_base, test_size=0.25, stratify=y_base, random_state=0)
model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X_train, y_train)
train_acc = model.score(X_train, y_train)
test_acc = model.score(X_train, y_train)
test_bacc = balanced_accuracy_score(y_test, model.predict(X_test))
""",
    ),
    dict(
        solution="eval-split",
        test="test-eval-split",
        why="scales all 136 people before splitting (the test set leaks into the scaler)",
        code="""
X_scaled = StandardScaler().fit_transform(X_base)
X_train, X_test, y_train, y_test = train_test_split(
    X_scaled, y_base, test_size=0.25, stratify=y_base, random_state=0)
model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X_train, y_train)
train_acc = model.score(X_train, y_train)
test_acc = model.score(X_test, y_test)
test_bacc = balanced_accuracy_score(y_test, model.predict(X_test))
""",
    ),
    dict(
        solution="eval-split",
        test="test-eval-split",
        why="fits the scaler on the test set and the classifier on the training set",
        code="""
X_train, X_test, y_train, y_test = train_test_split(
    X_base, y_base, test_size=0.25, stratify=y_base, random_state=0)
model = make_pipeline(StandardScaler(), LogisticRegression())
model[0].fit(X_test)
model[1].fit(model[0].transform(X_train), y_train)
train_acc = model.score(X_train, y_train)
test_acc = model.score(X_test, y_test)
test_bacc = balanced_accuracy_score(y_test, model.predict(X_test))
""",
    ),
    dict(
        solution="eval-split",
        test="test-eval-split",
        why="seed shopping: tries 50 split seeds and keeps the one with the best test accuracy (third edition)",
        code="""
best = -1.0
for seed in range(50):
    parts = train_test_split(X_base, y_base, test_size=0.25, stratify=y_base, random_state=seed)
    candidate = make_pipeline(StandardScaler(), LogisticRegression()).fit(parts[0], parts[2])
    if candidate.score(parts[1], parts[3]) > best:
        best = candidate.score(parts[1], parts[3])
        X_train, X_test, y_train, y_test = parts
        model = candidate
train_acc = model.score(X_train, y_train)
test_acc = model.score(X_test, y_test)
test_bacc = balanced_accuracy_score(y_test, model.predict(X_test))
""",
    ),
    dict(
        solution="eval-split",
        test="test-eval-split",
        why="a default k-nearest-neighbours classifier where LogisticRegression() is asked for (third edition)",
        code="""
X_train, X_test, y_train, y_test = train_test_split(
    X_base, y_base, test_size=0.25, stratify=y_base, random_state=0)
model = make_pipeline(StandardScaler(), KNeighborsClassifier()).fit(X_train, y_train)
train_acc = model.score(X_train, y_train)
test_acc = model.score(X_test, y_test)
test_bacc = balanced_accuracy_score(y_test, model.predict(X_test))
""",
    ),
    dict(
        solution="eval-kfold",
        test="test-eval-kfold",
        why="seed shopping: tries 50 fold seeds and keeps the best mean score (third edition)",
        code="""
seeds = range(50)
results = [cross_val_score(clf, X_sorted, y_sorted, scoring="balanced_accuracy",
                           cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)) for seed in seeds]
best = int(np.argmax([r.mean() for r in results]))
cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=best)
cv_scores = results[best]
""",
    ),
    dict(
        solution="eval-kfold",
        test="test-eval-kfold",
        why="forgets to shuffle and stratify: KFold on a table sorted by diagnosis",
        code="""
cv = KFold(n_splits=5)
cv_scores = cross_val_score(clf, X_sorted, y_sorted, cv=cv, scoring="balanced_accuracy")
""",
    ),
    dict(
        solution="eval-kfold",
        test="test-eval-kfold",
        why="shuffles but does not stratify: folds with unequal shares of demented people",
        code="""
cv = KFold(n_splits=5, shuffle=True, random_state=0)
cv_scores = cross_val_score(clf, X_sorted, y_sorted, cv=cv, scoring="balanced_accuracy")
""",
    ),
    dict(
        solution="eval-regression",
        test="test-eval-regression",
        why="predicts the people the model was fitted on (in-sample predictions)",
        code=REGRESSION + """    age_pred = LinearRegression().fit(X, age).predict(X)
    return age_pred, mean_absolute_error(age, age_pred), r2_score(age, age_pred)
""",
    ),
    dict(
        solution="eval-regression",
        test="test-eval-regression",
        why="swaps the arguments of r2_score (R2 is not symmetric)",
        code=REGRESSION + """    age_pred = cross_val_predict(LinearRegression(), X, age, cv=cv)
    return age_pred, mean_absolute_error(age, age_pred), r2_score(age_pred, age)
""",
    ),
    dict(
        solution="eval-regression",
        test="test-eval-regression",
        why="returns the course's provided fallback instead of computing anything (third edition)",
        code=REGRESSION + """    age_pred = load_provided("03_age_pred")["age_pred"]
    return age_pred, mean_absolute_error(age, age_pred), r2_score(age, age_pred)
""",
    ),
    dict(
        solution="eval-regression",
        test="test-eval-regression",
        why="a default Ridge() where a LinearRegression() is asked for (third edition)",
        code=REGRESSION + """    from sklearn.linear_model import Ridge
    age_pred = cross_val_predict(Ridge(), X, age, cv=cv)
    return age_pred, mean_absolute_error(age, age_pred), r2_score(age, age_pred)
""",
    ),
    dict(
        solution="eval-regression",
        test="test-eval-regression",
        why="ignores cv and uses its own unshuffled 5 folds (third edition)",
        code=REGRESSION + """    age_pred = cross_val_predict(LinearRegression(), X, age, cv=5)
    return age_pred, mean_absolute_error(age, age_pred), r2_score(age, age_pred)
""",
    ),
    dict(
        solution="eval-learning-curve",
        test="test-eval-learning-curve",
        why="swaps the training and validation outputs of learning_curve",
        code="""
train_sizes, valid_scores, train_scores = learning_curve(
    clf, X_base, y_base, train_sizes=np.linspace(0.2, 1.0, 5),
    cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=0), scoring="balanced_accuracy")
""",
    ),
    dict(
        solution="eval-errorbars",
        test="test-eval-errorbars",
        why="forgets the square root of the binomial variance",
        code="""
def accuracy_halfwidth(n, p=0.7):
    return 1.96 * p * (1 - p) / n
""",
    ),
    dict(
        solution="eval-errorbars",
        test="test-eval-errorbars",
        why="ignores the p argument (always uses 0.7)",
        code="""
def accuracy_halfwidth(n, p=0.7):
    return 1.96 * np.sqrt(0.7 * 0.3 / n)
""",
    ),
    dict(
        solution="eval-kfold",
        test="test-eval-kfold",
        why="types in plausible fold scores instead of computing them",
        code="""
cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
cv_scores = np.array([0.72, 0.68, 0.75, 0.70, 0.66])
""",
    ),
    dict(
        solution="eval-regression",
        test="test-eval-regression",
        why="types in the expected MAE and R2 next to made-up predictions",
        code=REGRESSION + """    age_pred = age + np.random.default_rng(0).normal(0, 6, len(age))
    return age_pred, 5.4, 0.35
""",
    ),
    dict(
        solution="eval-learning-curve",
        test="test-eval-learning-curve",
        why="unshuffled folds (cv=5) instead of the shuffled stratified folds asked for",
        code="""
train_sizes, train_scores, valid_scores = learning_curve(
    clf, X_base, y_base, train_sizes=np.linspace(0.2, 1.0, 5), cv=5, scoring="balanced_accuracy")
""",
    ),
    dict(
        solution="eval-groups",
        test="test-eval-groups",
        why="chooses a shuffled KFold: visits of one person on both sides (ungrouped evaluation)",
        code=GROUPS + """    return cross_val_score(model, X, y, cv=KFold(n_splits=5, shuffle=True, random_state=0))
""",
    ),
    dict(
        solution="eval-groups",
        test="test-eval-groups",
        why="a grouped splitter, but grouped by row instead of by person (third edition)",
        code=GROUPS + """    return cross_val_score(model, X, y, cv=GroupKFold(n_splits=5), groups=np.arange(len(y)))
""",
    ),
    dict(
        solution="eval-groups",
        test="test-eval-groups",
        why="ignores its arguments: always the 1-NN on the OASIS sessions (third edition)",
        code=GROUPS + """    return cross_val_score(knn, X_all, y_all, cv=GroupKFold(n_splits=5), groups=subjects)
""",
    ),
    dict(
        solution="eval-groups",
        test="test-eval-groups",
        why="types in plausible fold accuracies",
        code=GROUPS + """    return np.full(5, 0.58)
""",
    ),
    dict(
        solution="eval-sensitivity",
        test="test-eval-sensitivity",
        why="returns the pair in the wrong order (specificity first)",
        code=SENSITIVITY + """    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred, labels=[0, 1])
    return tn / (tn + fp), tp / (tp + fn)
""",
    ),
    dict(
        solution="eval-sensitivity",
        test="test-eval-sensitivity",
        why="reads confusion_matrix the wrong way round (rows taken as predictions)",
        code=SENSITIVITY + """    (tn, fp), (fn, tp) = confusion_matrix(y_pred, y_true, labels=[0, 1])
    return tp / (tp + fn), tn / (tn + fp)
""",
    ),
    dict(
        solution="eval-sensitivity",
        test="test-eval-sensitivity",
        why="precision (positive predictive value) instead of sensitivity",
        code=SENSITIVITY + """    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred, labels=[0, 1])
    return tp / (tp + fp), tn / (tn + fp)
""",
    ),
    dict(
        solution="eval-sensitivity",
        test="test-eval-sensitivity",
        why="hard-codes the answer of the visible test",
        code=SENSITIVITY + """    return 0.5, 1.0
""",
    ),
    dict(
        solution="eval-selection",
        test="test-eval-selection",
        why="hard-coded return (the bypass reported in issue 11)",
        code=SELECTION + """    return 0.8, 0.55
""",
    ),
    dict(
        solution="eval-selection",
        test="test-eval-selection",
        why="selects the edges on all participants in both procedures",
        code=SELECTION + """    selected = SelectKBest(f_classif, k=10).fit_transform(X, labels)
    score = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression()),
                            selected, labels, cv=cv).mean()
    return score, score
""",
    ),
    dict(
        solution="eval-selection",
        test="test-eval-selection",
        why="returns the two accuracies in the wrong order",
        code=SELECTION + """    selected = SelectKBest(f_classif, k=10).fit_transform(X, labels)
    leaky = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression()),
                            selected, labels, cv=cv).mean()
    proper = cross_val_score(make_pipeline(StandardScaler(), SelectKBest(f_classif, k=10),
                                           LogisticRegression()), X, labels, cv=cv).mean()
    return proper, leaky
""",
    ),
    dict(
        solution="eval-selection",
        test="test-eval-selection",
        why="ignores its arguments and always works on the ADHD table with adhd_cv",
        code=SELECTION + """    selected = SelectKBest(f_classif, k=10).fit_transform(X_adhd, y_adhd)
    leaky = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression()),
                            selected, y_adhd, cv=adhd_cv).mean()
    proper = cross_val_score(make_pipeline(StandardScaler(), SelectKBest(f_classif, k=10),
                                           LogisticRegression()), X_adhd, y_adhd, cv=adhd_cv).mean()
    return leaky, proper
""",
    ),
]
