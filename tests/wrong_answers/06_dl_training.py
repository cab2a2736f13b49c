"""Plausible wrong answers for source/06_dl_training/dl_training.ipynb (see docs/authoring.md)."""

_DATASET_OK_INIT = (
    "class LesionDataset(Dataset):\n"
    "    def __init__(self, images, labels, transform=None):\n"
    "        self.images = torch.as_tensor(images, dtype=torch.float32)\n"
    "        self.labels = torch.as_tensor(labels, dtype=torch.long)\n"
    "        self.transform = transform\n"
    "    def __len__(self):\n"
    "        return len(self.labels)\n"
)

_TRAIN_LOOP = (
    "def train_one_epoch(model, loader, optimizer, loss_fn):\n"
    "{train}"
    "    total, n = 0.0, 0\n"
    "    for images, labels in loader:\n"
    "{zero}"
    "        loss = loss_fn(model(images), labels)\n"
    "        loss.backward()\n"
    "        optimizer.step()\n"
    "        total += loss.item() * len(labels)\n"
    "        n += len(labels)\n"
    "    return total / n\n"
)

_EVALUATE = (
    "def evaluate(model, loader, loss_fn):\n"
    "{eval}"
    "    total_loss, correct, n = 0.0, 0, 0\n"
    "    with {context}:\n"
    "        for images, labels in loader:\n"
    "            logits = model(images)\n"
    "            total_loss += loss_fn(logits, labels).item() * len(labels)\n"
    "            correct += (logits.argmax(dim={dim}) == labels).sum().item()\n"
    "            n += len(labels)\n"
    "    return total_loss / n, correct / n\n"
)

_SALIENCY = (
    "def saliency_map(model, image):\n"
    "{eval}"
    "    x = image.detach().clone().unsqueeze(0).requires_grad_(True)\n"
    "    target = {target}\n"
    "    target.backward()\n"
    "    return x.grad[0, 0].abs().numpy()\n"
)

_NEW_SLICES = (
    "def predict_new_slices(model, features, labels, slices):\n"
    "    from sklearn.model_selection import KFold, LeaveOneOut, StratifiedKFold, cross_val_predict\n"
    "    return cross_val_predict(model, features, labels, cv={cv}{groups})"
)

WRONG_ANSWERS = [
    # Exercise 1: Dataset
    dict(
        solution="dataset",
        test="test-dataset",
        why="stores the labels as floats: CrossEntropyLoss needs long class indices",
        code=_DATASET_OK_INIT.replace("labels, dtype=torch.long", "labels, dtype=torch.float32")
        + "    def __getitem__(self, i):\n"
        "        image = self.images[i]\n"
        "        if self.transform is not None:\n"
        "            image = self.transform(image)\n"
        "        return image, self.labels[i]\n",
    ),
    dict(
        solution="dataset",
        test="test-dataset",
        why="drops the channel axis: returns (H, W) images",
        code=_DATASET_OK_INIT + "    def __getitem__(self, i):\n        return self.images[i, 0], self.labels[i]\n",
    ),
    dict(
        solution="dataset",
        test="test-dataset",
        why="ignores the transform",
        code=_DATASET_OK_INIT + "    def __getitem__(self, i):\n        return self.images[i], self.labels[i]\n",
    ),
    # Exercise 2: split by slice
    dict(
        solution="splits",
        test="test-splits",
        why="splits images, not slices: images of one template slice land in training and test sets",
        code=(
            "from sklearn.model_selection import train_test_split\n"
            "all_idx = np.arange(len(y))\n"
            "train_idx, rest_idx = train_test_split(all_idx, test_size=0.4, stratify=y, random_state=0)\n"
            "val_idx, test_idx = train_test_split(rest_idx, test_size=0.5, stratify=y[rest_idx], random_state=0)\n"
        ),
    ),
    dict(
        solution="splits",
        test="test-splits",
        why="uses the positions returned by the second split as indices into X (forgets rest_idx[...])",
        code=(
            "all_idx = np.arange(len(y))\n"
            "rest_idx, test_idx = next(GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=0).split(all_idx, y, groups=slices))\n"
            "train_idx, val_idx = next(GroupShuffleSplit(n_splits=1, test_size=0.25, random_state=0).split(\n"
            "    rest_idx, y[rest_idx], groups=slices[rest_idx]))\n"
        ),
    ),
    dict(
        solution="splits",
        test="test-splits",
        why="draws the validation set from all images, so it overlaps the training and test sets",
        code=(
            "all_idx = np.arange(len(y))\n"
            "train_idx, test_idx = next(GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=0).split(all_idx, y, groups=slices))\n"
            "_, val_idx = next(GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=1).split(all_idx, y, groups=slices))\n"
        ),
    ),
    dict(
        solution="splits",
        test="test-splits",
        why="a fixed hand-made split by slice instead of the random one asked for",
        code=(
            "train_idx = np.flatnonzero(slices < 48)\n"
            "val_idx = np.flatnonzero((slices >= 48) & (slices < 51))\n"
            "test_idx = np.flatnonzero(slices >= 51)\n"
        ),
    ),
    dict(
        solution="splits",
        test="test-splits",
        why="seed shopping: tries random_state values and keeps the split whose test slices the pixel baseline finds easiest",
        code=(
            "from sklearn.linear_model import LogisticRegression\n"
            "all_idx = np.arange(len(y))\n"
            "def _three_way(seed):\n"
            "    rest_pos, test_pos = next(GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=seed).split(all_idx, y, groups=slices))\n"
            "    rest = all_idx[rest_pos]\n"
            "    tr, va = next(GroupShuffleSplit(n_splits=1, test_size=0.25, random_state=seed).split(rest, y[rest], groups=slices[rest]))\n"
            "    return rest[tr], rest[va], all_idx[test_pos]\n"
            "def _baseline_test_score(split):\n"
            "    tr, _, te = split\n"
            "    flat = X.reshape(len(X), -1)\n"
            "    return LogisticRegression(C=0.01, max_iter=300).fit(flat[tr], y[tr]).score(flat[te], y[te])\n"
            "train_idx, val_idx, test_idx = max((_three_way(seed) for seed in range(1, 6)), key=_baseline_test_score)\n"
        ),
    ),
    # Exercise 3: loaders
    dict(
        solution="loaders",
        test="test-loaders",
        why="does not shuffle the training loader",
        code=(
            "train_loader = DataLoader(train_set, batch_size=32)\n"
            "val_loader = DataLoader(val_set, batch_size=200)\n"
            "test_loader = DataLoader(test_set, batch_size=200)\n"
        ),
    ),
    dict(
        solution="loaders",
        test="test-loaders",
        why="mixes up the sets: the test loader serves the validation images",
        code=(
            "train_loader = DataLoader(train_set, batch_size=32, shuffle=True)\n"
            "val_loader = DataLoader(test_set, batch_size=200)\n"
            "test_loader = DataLoader(val_set, batch_size=200)\n"
        ),
    ),
    dict(
        solution="loaders",
        test="test-loaders",
        why="shuffles the validation and test loaders too",
        code=(
            "train_loader = DataLoader(train_set, batch_size=32, shuffle=True)\n"
            "val_loader = DataLoader(val_set, batch_size=200, shuffle=True)\n"
            "test_loader = DataLoader(test_set, batch_size=200, shuffle=True)\n"
        ),
    ),
    # Exercise 4: model
    dict(
        solution="model",
        test="test-model",
        why="applies a softmax before nn.CrossEntropyLoss (which applies it again)",
        code=(
            "class GlobalPoolCNN(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.body = conv_body()\n"
            "        self.head = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(16, 2), nn.Softmax(dim=1))\n"
            "    def forward(self, x):\n"
            "        return self.head(self.body(x))\n"
        ),
    ),
    dict(
        solution="model",
        test="test-model",
        why="flattens the feature maps instead of pooling them globally",
        code=(
            "class GlobalPoolCNN(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.body = conv_body()\n"
            "        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * 8 * 8, 2))\n"
            "    def forward(self, x):\n"
            "        return self.head(self.body(x))\n"
        ),
    ),
    dict(
        solution="model",
        test="test-model",
        why="pools with a fixed 8x8 window, which only works for 32x32 images",
        code=(
            "class GlobalPoolCNN(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.body = conv_body()\n"
            "        self.head = nn.Sequential(nn.MaxPool2d(8), nn.Flatten(), nn.Linear(16, 2))\n"
            "    def forward(self, x):\n"
            "        return self.head(self.body(x))\n"
        ),
    ),
    # Exercise 5: training epoch
    dict(
        solution="train-epoch",
        test="test-train-epoch",
        why="forgets optimizer.zero_grad(): gradients accumulate over the batches",
        code=_TRAIN_LOOP.format(train="    model.train()\n", zero=""),
    ),
    dict(
        solution="train-epoch",
        test="test-train-epoch",
        why="forgets model.train(): after an evaluation the model trains in eval mode (dropout off)",
        code=_TRAIN_LOOP.format(train="", zero="        optimizer.zero_grad()\n"),
    ),
    dict(
        solution="train-epoch",
        test="test-train-epoch",
        why="averages the batch losses without weighting by batch size",
        code=(
            "def train_one_epoch(model, loader, optimizer, loss_fn):\n"
            "    model.train()\n"
            "    losses = []\n"
            "    for images, labels in loader:\n"
            "        optimizer.zero_grad()\n"
            "        loss = loss_fn(model(images), labels)\n"
            "        loss.backward()\n"
            "        optimizer.step()\n"
            "        losses.append(loss.item())\n"
            "    return float(np.mean(losses))\n"
        ),
    ),
    # Exercise 6: evaluate
    dict(
        solution="evaluate",
        test="test-evaluate",
        why="forgets model.eval()",
        code=_EVALUATE.format(eval="", context="torch.no_grad()", dim=1),
    ),
    dict(
        solution="evaluate",
        test="test-evaluate",
        why="evaluates without torch.no_grad() (records the graph)",
        code=_EVALUATE.format(eval="    model.eval()\n", context="torch.enable_grad()", dim=1),
    ),
    dict(
        solution="evaluate",
        test="test-evaluate",
        why="takes the argmax over the samples (dim=0) instead of the classes",
        code=_EVALUATE.format(eval="    model.eval()\n", context="torch.no_grad()", dim=0),
    ),
    # Exercise 7: test accuracy
    dict(
        solution="test-accuracy",
        test="test-test-accuracy",
        why="reports performance on the training set",
        code=(
            "gp_model.eval()\n"
            "with torch.no_grad():\n"
            "    test_predictions = torch.cat([gp_model(im).argmax(dim=1) for im, _ in train_loader]).numpy()\n"
            "test_accuracy = float(np.mean(test_predictions == y[train_idx]))\n"
        ),
    ),
    dict(
        solution="test-accuracy",
        test="test-test-accuracy",
        why="reports performance on the validation set, used to choose the epoch",
        code=(
            "gp_model.eval()\n"
            "with torch.no_grad():\n"
            "    test_predictions = torch.cat([gp_model(im).argmax(dim=1) for im, _ in val_loader]).numpy()\n"
            "test_accuracy = float(np.mean(test_predictions == y[val_idx]))\n"
        ),
    ),
    dict(
        solution="test-accuracy",
        test="test-test-accuracy",
        why="hard-codes a plausible accuracy and predicts 'lesion' for every image",
        code="test_predictions = np.ones(len(test_idx), dtype=int)\ntest_accuracy = 0.95\n",
    ),
    # Exercise 8: tuned linear baseline
    dict(
        solution="logreg",
        test="test-logreg",
        why="chooses C on the test set (its 'validation' accuracies are test accuracies)",
        code=(
            "X_flat = X.reshape(len(X), -1)\n"
            "models = [LogisticRegression(C=C, max_iter=1000).fit(X_flat[train_idx], y[train_idx]) for C in C_grid]\n"
            "val_accuracy_by_C = [m.score(X_flat[test_idx], y[test_idx]) for m in models]\n"
            "best_C = C_grid[int(np.argmax(val_accuracy_by_C))]\n"
            "logreg = models[int(np.argmax(val_accuracy_by_C))]\n"
            "logreg_train_accuracy = logreg.score(X_flat[train_idx], y[train_idx])\n"
            "logreg_test_accuracy = logreg.score(X_flat[test_idx], y[test_idx])\n"
        ),
    ),
    dict(
        solution="logreg",
        test="test-logreg",
        why="skips the tuning: one C, its validation score copied for every C",
        code=(
            "X_flat = X.reshape(len(X), -1)\n"
            "logreg = LogisticRegression(C=0.01, max_iter=1000).fit(X_flat[train_idx], y[train_idx])\n"
            "val_accuracy_by_C = [logreg.score(X_flat[val_idx], y[val_idx])] * len(C_grid)\n"
            "best_C = 0.01\n"
            "logreg_train_accuracy = logreg.score(X_flat[train_idx], y[train_idx])\n"
            "logreg_test_accuracy = logreg.score(X_flat[test_idx], y[test_idx])\n"
        ),
    ),
    dict(
        solution="logreg",
        test="test-logreg",
        why="reports the training accuracy as the test accuracy",
        code=(
            "X_flat = X.reshape(len(X), -1)\n"
            "models = [LogisticRegression(C=C, max_iter=1000).fit(X_flat[train_idx], y[train_idx]) for C in C_grid]\n"
            "val_accuracy_by_C = [m.score(X_flat[val_idx], y[val_idx]) for m in models]\n"
            "best_C = C_grid[int(np.argmax(val_accuracy_by_C))]\n"
            "logreg = models[int(np.argmax(val_accuracy_by_C))]\n"
            "logreg_train_accuracy = logreg.score(X_flat[train_idx], y[train_idx])\n"
            "logreg_test_accuracy = logreg_train_accuracy\n"
        ),
    ),
    dict(
        solution="logreg",
        test="test-logreg",
        why="fits the final model on all images, test set included (leakage)",
        code=(
            "X_flat = X.reshape(len(X), -1)\n"
            "models = [LogisticRegression(C=C, max_iter=1000).fit(X_flat[train_idx], y[train_idx]) for C in C_grid]\n"
            "val_accuracy_by_C = [m.score(X_flat[val_idx], y[val_idx]) for m in models]\n"
            "best_C = C_grid[int(np.argmax(val_accuracy_by_C))]\n"
            "logreg = LogisticRegression(C=best_C, max_iter=1000).fit(X_flat, y)\n"
            "logreg_train_accuracy = logreg.score(X_flat[train_idx], y[train_idx])\n"
            "logreg_test_accuracy = logreg.score(X_flat[test_idx], y[test_idx])\n"
        ),
    ),
    dict(
        solution="logreg",
        test="test-logreg",
        why="the default model where a tuned one is asked: the final LogisticRegression() keeps C=1",
        code=(
            "X_flat = X.reshape(len(X), -1)\n"
            "val_accuracy_by_C = [LogisticRegression(C=C, max_iter=1000).fit(X_flat[train_idx], y[train_idx])"
            ".score(X_flat[val_idx], y[val_idx]) for C in C_grid]\n"
            "best_C = C_grid[int(np.argmax(val_accuracy_by_C))]\n"
            "logreg = LogisticRegression(max_iter=1000).fit(X_flat[train_idx], y[train_idx])\n"
            "logreg_train_accuracy = logreg.score(X_flat[train_idx], y[train_idx])\n"
            "logreg_test_accuracy = logreg.score(X_flat[test_idx], y[test_idx])\n"
        ),
    ),
    # Exercise 9: saliency
    dict(
        solution="saliency",
        test="test-saliency",
        why="differentiates the sum of both logits instead of the lesion logit",
        code=_SALIENCY.format(eval="    model.eval()\n", target="model(x).sum()"),
    ),
    dict(
        solution="saliency",
        test="test-saliency",
        why="forgets model.eval(): dropout makes the map random",
        code=_SALIENCY.format(eval="", target="model(x)[0, 1]"),
    ),
    dict(
        solution="saliency",
        test="test-saliency",
        why="differentiates the loss for the label 'lesion' instead of the lesion logit",
        code=_SALIENCY.format(eval="    model.eval()\n",
                              target="nn.CrossEntropyLoss()(model(x), torch.tensor([1]))"),
    ),
    # Exercise 10: out-of-slice predictions; the student chooses the split, the probe checks it
    dict(
        solution="new-slices",
        test="test-new-slices",
        why="ungrouped, shuffled KFold: images of a slice are in the training and the test folds",
        code=_NEW_SLICES.format(cv="KFold(5, shuffle=True, random_state=0)", groups=""),
    ),
    dict(
        solution="new-slices",
        test="test-new-slices",
        why="StratifiedKFold: balances the classes but ignores the slices",
        code=_NEW_SLICES.format(cv="StratifiedKFold(5)", groups=""),
    ),
    dict(
        solution="new-slices",
        test="test-new-slices",
        why="in-sample: fits on every image and predicts the same images",
        code="def predict_new_slices(model, features, labels, slices):\n"
             "    return model.fit(features, labels).predict(features)",
    ),
    dict(
        solution="new-slices",
        test="test-new-slices",
        why="leave-one-image-out: each image is left out, its slice's near-copies are not",
        code=_NEW_SLICES.format(cv="LeaveOneOut()", groups=""),
    ),
    dict(
        solution="new-slices",
        test="test-new-slices",
        why="groups by the label instead of the slice (GroupKFold with groups=labels)",
        code="def predict_new_slices(model, features, labels, slices):\n"
             "    from sklearn.model_selection import GroupKFold, cross_val_predict\n"
             "    return cross_val_predict(model, features, labels, cv=GroupKFold(2), groups=labels)",
    ),
]
