"""Plausible wrong answers for source/04_ml_tuning/ml_tuning.ipynb.

Each entry replaces one solution cell; the named test cell must then fail.
"""

LOG_RIDGE = ("TransformedTargetRegressor(regressor=make_pipeline(StandardScaler(), Ridge()), "
             "func=np.log1p, inverse_func=np.expm1)")
TARGET_SETUP = "from sklearn.model_selection import KFold\nmmse_cv = {cv}\nmmse_groups = {groups}\nlog_ridge = {model}\n"
TARGET_MAE = ("mae_plain = mean_absolute_error(points_lost, pred_plain)\n"
              "mae_log = mean_absolute_error(points_lost, pred_log)\n")
TARGET_PREDICT = ("pred_plain = cross_val_predict(make_pipeline(StandardScaler(), Ridge()), X_mmse, points_lost,\n"
                  "                               cv=mmse_cv, groups=mmse_groups)\n"
                  "pred_log = cross_val_predict(log_ridge, X_mmse, points_lost, cv=mmse_cv, groups=mmse_groups)\n"
                  + TARGET_MAE)
SEVERE_SPLITTER = ("severe_cv = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)\n"
                   "severe_groups = subjects\n")
SEVERE_FOLD_SCORES = ("    return cross_validate(model, X_all, y_severe, cv=severe_cv, groups=severe_groups,\n"
                      "                          scoring=['accuracy', 'balanced_accuracy'])")

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
        solution="tune-validation-curve",
        test="test-tune-validation-curve",
        why="keeps the default scoring (accuracy) instead of balanced accuracy",
        code="""
train_scores, valid_scores = validation_curve(
    knn, X_base, y_base, param_name="kneighborsclassifier__n_neighbors",
    param_range=n_neighbors_range, cv=cv)
""",
    ),
    dict(
        solution="tune-nested",
        test="test-tune-nested",
        why="plain cross-validation of the pipeline with its default settings: no tuning at all",
        code="""
nested = cross_validate(adhd_pipeline, X_adhd, y_adhd, cv=outer_cv, return_estimator=True)
nested_scores = nested["test_score"]
""",
    ),
    dict(
        solution="tune-nested",
        test="test-tune-nested",
        why="tunes on all data, then cross-validates the already chosen best estimator",
        code="""
nested = cross_validate(search.best_estimator_, X_adhd, y_adhd, cv=outer_cv, return_estimator=True)
nested_scores = nested["test_score"]
""",
    ),
    dict(
        solution="tune-nested",
        test="test-tune-nested",
        why="reports the inner grid-search score as the performance of every outer fold",
        code="""
nested = {"test_score": np.full(5, search.best_score_), "estimator": [search] * 5}
nested_scores = nested["test_score"]
""",
    ),
    dict(
        solution="tune-nested",
        test="test-tune-nested",
        why="uses the inner folds for the outer loop too (cv=inner_cv)",
        code="""
nested = cross_validate(GridSearchCV(adhd_pipeline, param_grid, cv=inner_cv),
                        X_adhd, y_adhd, cv=inner_cv, return_estimator=True)
nested_scores = nested["test_score"]
""",
    ),
    *(
        dict(solution="tune-imbalance", test="test-tune-imbalance", why=why,
             code=f"{splitter}\ndef fold_scores(model):\n{body}\n\ndummy_cv, plain_cv, weighted_cv = "
                  f"fold_scores(dummy), fold_scores(plain), fold_scores({weighted})\n")
        for why, splitter, body, weighted in [
            ("forgets class_weight='balanced' for the weighted model", SEVERE_SPLITTER, SEVERE_FOLD_SCORES, "plain"),
            ("scores only accuracy and copies it as balanced accuracy", SEVERE_SPLITTER,
             "    acc = cross_val_score(model, X_all, y_severe, cv=severe_cv, groups=severe_groups)\n"
             "    return {'test_accuracy': acc, 'test_balanced_accuracy': acc}", "weighted"),
            ("ignores the subjects: sessions of one person fall in training and test folds",
             "severe_cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)\nsevere_groups = None\n",
             SEVERE_FOLD_SCORES, "weighted"),
            ("groups by session, not by person: each session is its own group",
             "severe_cv = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)\n"
             "severe_groups = np.arange(len(y_severe))\n", SEVERE_FOLD_SCORES, "weighted"),
            ("groups by person but ignores the class balance (GroupKFold): some test folds hold few severe cases",
             "severe_cv = GroupKFold(n_splits=5)\nsevere_groups = subjects\n", SEVERE_FOLD_SCORES, "weighted"),
            ("reports the scores on the training folds (in-sample) as the test scores", SEVERE_SPLITTER,
             "    result = cross_validate(model, X_all, y_severe, cv=severe_cv, groups=severe_groups,\n"
             "                            scoring=['accuracy', 'balanced_accuracy'], return_train_score=True)\n"
             "    return {'test_accuracy': result['train_accuracy'],\n"
             "            'test_balanced_accuracy': result['train_balanced_accuracy']}", "weighted"),
            ("fits the dummy and plain models on all sessions, then scores them on each test fold (in-sample)",
             SEVERE_SPLITTER + "from sklearn.metrics import accuracy_score, balanced_accuracy_score\n",
             "    if model is weighted:\n"
             "        return cross_validate(model, X_all, y_severe, cv=severe_cv, groups=severe_groups,\n"
             "                              scoring=['accuracy', 'balanced_accuracy'])\n"
             "    fitted = clone(model).fit(X_all, y_severe)\n"
             "    tests = [test for _, test in severe_cv.split(X_all, y_severe, groups=severe_groups)]\n"
             "    return {'test_accuracy': np.array([accuracy_score(y_severe[t], fitted.predict(X_all.iloc[t])) for t in tests]),\n"
             "            'test_balanced_accuracy': np.array([balanced_accuracy_score(y_severe[t], fitted.predict(X_all.iloc[t]))\n"
             "                                                for t in tests])}", "weighted"),
        ]
    ),
    dict(
        solution="tune-confounds",
        test="test-tune-confounds",
        why="compares the confounds with nWBV alone instead of with confounds + nWBV",
        code="""
auc_confounds_only = auc_scores(logistic, confounds)
auc_confounds_nwbv = auc_scores(logistic, ["nwbv"])
auc_gain = auc_confounds_nwbv - auc_confounds_only
""",
    ),
    dict(
        solution="tune-confounds",
        test="test-tune-confounds",
        why="reports the gain as a difference of means, losing the fold-by-fold pairing and its spread",
        code="""
auc_confounds_only = auc_scores(logistic, confounds)
auc_confounds_nwbv = auc_scores(logistic, confounds + ["nwbv"])
auc_gain = auc_confounds_nwbv.mean() - auc_confounds_only.mean()
""",
    ),
    dict(
        solution="tune-confounds",
        test="test-tune-confounds",
        why="uses plain 5-fold CV instead of the shared repeated folds, so the models are not compared on the same folds",
        code="""
auc_confounds_only = cross_val_score(logistic, baseline[confounds], y_base, cv=5, scoring="roc_auc")
auc_confounds_nwbv = cross_val_score(logistic, baseline[confounds + ["nwbv"]], y_base, cv=5, scoring="roc_auc")
auc_gain = auc_confounds_nwbv - auc_confounds_only
""",
    ),
    dict(
        solution="tune-confounds",
        test="test-tune-confounds",
        why="hard-codes plausible numbers",
        code="""
auc_confounds_only = np.full(10, 0.65)
auc_confounds_nwbv = np.full(10, 0.75)
auc_gain = auc_confounds_nwbv - auc_confounds_only
""",
    ),
    *(
        dict(solution="tune-target", test="test-tune-target", why=why,
             code=TARGET_SETUP.format(cv=cv, groups=groups, model=model) + body)
        for why, cv, groups, model, body in [
            ("ungrouped shuffled KFold: sessions of one person in training and test folds (third edition)",
             "KFold(n_splits=5, shuffle=True, random_state=0)", "None", LOG_RIDGE, TARGET_PREDICT),
            ("groups the folds by visit number instead of by person (third edition)",
             "GroupKFold(n_splits=5)", 'scored["visit"].to_numpy()', LOG_RIDGE, TARGET_PREDICT),
            ("in-sample predictions: fits and predicts on every session (third edition)",
             "GroupKFold(n_splits=5)", 'scored["subject_id"].to_numpy()', LOG_RIDGE,
             "pred_plain = make_pipeline(StandardScaler(), Ridge()).fit(X_mmse, points_lost).predict(X_mmse)\n"
             "pred_log = log_ridge.fit(X_mmse, points_lost).predict(X_mmse)\n" + TARGET_MAE),
            ("scales all sessions outside the pipeline, then cross-validates a ridge without a scaler (third edition)",
             "GroupKFold(n_splits=5)", 'scored["subject_id"].to_numpy()',
             "TransformedTargetRegressor(regressor=Ridge(), func=np.log1p, inverse_func=np.expm1)",
             "X_scaled = StandardScaler().fit_transform(X_mmse)\n"
             "pred_plain = cross_val_predict(Ridge(), X_scaled, points_lost, cv=mmse_cv, groups=mmse_groups)\n"
             "pred_log = cross_val_predict(log_ridge, X_scaled, points_lost, cv=mmse_cv, groups=mmse_groups)\n"
             + TARGET_MAE),
            ("forgets to transform the target (log_ridge's transform is the identity)",
             "GroupKFold(n_splits=5)", 'scored["subject_id"].to_numpy()',
             "TransformedTargetRegressor(regressor=make_pipeline(StandardScaler(), Ridge()))", TARGET_PREDICT),
            ("log-transforms the target by hand and never transforms the predictions back",
             "GroupKFold(n_splits=5)", 'scored["subject_id"].to_numpy()', LOG_RIDGE,
             "pred_plain = cross_val_predict(make_pipeline(StandardScaler(), Ridge()), X_mmse, points_lost,\n"
             "                               cv=mmse_cv, groups=mmse_groups)\n"
             "pred_log = cross_val_predict(make_pipeline(StandardScaler(), Ridge()), X_mmse, np.log1p(points_lost),\n"
             "                             cv=mmse_cv, groups=mmse_groups)\n" + TARGET_MAE),
        ]
    ),
    *(
        dict(solution="tune-leak", test="test-tune-leak", why=why,
             code="def repaired_analysis(X, y, cv):\n" + body)
        for why, body in [
            ("hands back the lab's leaky analysis unchanged (third edition)",
             "    return lab_analysis(X, y, cv)\n"),
            ("moves the z-scoring into the pipeline but still selects edges on all people (third edition)",
             "    selected = SelectKBest(f_classif, k=20).fit_transform(X, y)\n"
             "    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, solver='liblinear'))\n"
             "    return cross_val_score(pipeline, selected, y, cv=cv)\n"),
            ("repairs the selection but drops the z-scoring (not the same analysis) (third edition)",
             "    pipeline = make_pipeline(SelectKBest(f_classif, k=20), LogisticRegression(C=1.0, solver='liblinear'))\n"
             "    return cross_val_score(pipeline, X, y, cv=cv)\n"),
            ("repairs it on the ADHD data only, ignoring its arguments (third edition)",
             "    pipeline = make_pipeline(StandardScaler(), SelectKBest(f_classif, k=20),\n"
             "                             LogisticRegression(C=1.0, solver='liblinear'))\n"
             "    return cross_val_score(pipeline, X_adhd, y_adhd, cv=outer_cv)\n"),
            ("types in plausible fold accuracies (third edition)",
             "    return np.full(5, 0.6)\n"),
        ]
    ),
]
