"""Plausible wrong answers for source/04_ml_tuning/ml_tuning.ipynb.

Each entry replaces one solution cell; the named test cell must then fail.
"""

WRONG_ANSWERS = [
    dict(
        solution="tune-validation-curve",
        test="test-tune-validation-curve",
        why="swaps the training and validation outputs of validation_curve",
        code="""
valid_scores, train_scores = validation_curve(
    knn, X_base, y_base, param_name="kneighborsclassifier__n_neighbors",
    param_range=n_neighbors_range, cv=cv, scoring="balanced_accuracy")
""",
    ),
    dict(
        solution="tune-grid",
        test="test-tune-grid",
        why="reports the refitted model's score on the data it was trained on",
        code="""
search = GridSearchCV(adhd_pipeline, param_grid, cv=inner_cv).fit(X_adhd, y_adhd)
inner_best = search.score(X_adhd, y_adhd)
""",
    ),
    dict(
        solution="tune-nested",
        test="test-tune-nested",
        why="tunes on all data, then cross-validates the already chosen best estimator",
        code="""
nested_scores = cross_val_score(search.best_estimator_, X_adhd, y_adhd, cv=outer_cv)
""",
    ),
    dict(
        solution="tune-nested",
        test="test-tune-nested",
        why="reports the inner grid-search score as the performance",
        code="""
nested_scores = np.full(5, search.best_score_)
""",
    ),
    dict(
        solution="tune-imbalance",
        test="test-tune-imbalance",
        why="forgets class_weight='balanced' for the weighted model",
        code="""
def mean_scores(model):
    result = cross_validate(model, X_all, y_severe, cv=severe_cv, groups=subjects,
                            scoring=["accuracy", "balanced_accuracy"])
    return result["test_accuracy"].mean(), result["test_balanced_accuracy"].mean()

dummy_acc, dummy_bacc = mean_scores(dummy)
plain_acc, plain_bacc = mean_scores(plain)
weighted_acc, weighted_bacc = mean_scores(plain)
""",
    ),
    dict(
        solution="tune-imbalance",
        test="test-tune-imbalance",
        why="scores only accuracy and reports it as balanced accuracy",
        code="""
def mean_scores(model):
    acc = cross_val_score(model, X_all, y_severe, cv=severe_cv, groups=subjects).mean()
    return acc, acc

dummy_acc, dummy_bacc = mean_scores(dummy)
plain_acc, plain_bacc = mean_scores(plain)
weighted_acc, weighted_bacc = mean_scores(weighted)
""",
    ),
    dict(
        solution="tune-confounds",
        test="test-tune-confounds",
        why="adds the confound as a feature instead of regressing it out",
        code="""
auc_confounds_only = auc(logistic, ["age", "male", "etiv"])
auc_nwbv_sex_removed = auc(logistic, ["nwbv", "male"])
auc_nwbv_age_removed = auc(logistic, ["nwbv", "age"])
""",
    ),
    dict(
        solution="tune-confounds",
        test="test-tune-confounds",
        why="swaps which confound is removed",
        code="""
auc_confounds_only = auc(logistic, ["age", "male", "etiv"])
auc_nwbv_sex_removed = auc(make_pipeline(RegressOut(["age"]), StandardScaler(), LogisticRegression()),
                           ["nwbv", "age"])
auc_nwbv_age_removed = auc(make_pipeline(RegressOut(["male"]), StandardScaler(), LogisticRegression()),
                           ["nwbv", "male"])
""",
    ),
    dict(
        solution="tune-target",
        test="test-tune-target",
        why="forgets to transform the target (pred_log is the plain model)",
        code="""
ridge = make_pipeline(StandardScaler(), Ridge())
pred_plain = cross_val_predict(ridge, X_mmse, points_lost, cv=mmse_cv, groups=mmse_groups)
pred_log = cross_val_predict(ridge, X_mmse, points_lost, cv=mmse_cv, groups=mmse_groups)
mae_plain = mean_absolute_error(points_lost, pred_plain)
mae_log = mean_absolute_error(points_lost, pred_log)
""",
    ),
    dict(
        solution="tune-target",
        test="test-tune-target",
        why="log-transforms the target by hand and never transforms the predictions back",
        code="""
ridge = make_pipeline(StandardScaler(), Ridge())
pred_plain = cross_val_predict(ridge, X_mmse, points_lost, cv=mmse_cv, groups=mmse_groups)
pred_log = cross_val_predict(ridge, X_mmse, np.log1p(points_lost), cv=mmse_cv, groups=mmse_groups)
mae_plain = mean_absolute_error(points_lost, pred_plain)
mae_log = mean_absolute_error(np.log1p(points_lost), pred_log)
""",
    ),
]
