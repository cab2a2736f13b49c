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
    # Exercise 2: splits
    dict(
        solution="splits",
        test="test-splits",
        why="does not stratify: the splits are not balanced",
        code=(
            "all_idx = np.arange(len(y))\n"
            "train_idx, rest_idx = train_test_split(all_idx, test_size=0.4, random_state=0)\n"
            "val_idx, test_idx = train_test_split(rest_idx, test_size=0.5, random_state=0)\n"
        ),
    ),
    dict(
        solution="splits",
        test="test-splits",
        why="draws validation and test sets from all images, so they overlap the training set",
        code=(
            "all_idx = np.arange(len(y))\n"
            "train_idx, _ = train_test_split(all_idx, test_size=0.4, stratify=y, random_state=0)\n"
            "_, val_idx = train_test_split(all_idx, test_size=0.2, stratify=y, random_state=1)\n"
            "_, test_idx = train_test_split(all_idx, test_size=0.2, stratify=y, random_state=2)\n"
        ),
    ),
    # Exercise 3: loaders
    dict(
        solution="loaders",
        test="test-loaders",
        why="does not shuffle the training loader",
        code=(
            "train_loader = DataLoader(LesionDataset(X[train_idx], y[train_idx], transform=random_flip), batch_size=32)\n"
            "val_loader = DataLoader(LesionDataset(X[val_idx], y[val_idx]), batch_size=120)\n"
            "test_loader = DataLoader(LesionDataset(X[test_idx], y[test_idx]), batch_size=120)\n"
        ),
    ),
    dict(
        solution="loaders",
        test="test-loaders",
        why="augments the validation and test images too",
        code=(
            "train_loader = DataLoader(LesionDataset(X[train_idx], y[train_idx], transform=random_flip), batch_size=32, shuffle=True)\n"
            "val_loader = DataLoader(LesionDataset(X[val_idx], y[val_idx], transform=random_flip), batch_size=120)\n"
            "test_loader = DataLoader(LesionDataset(X[test_idx], y[test_idx], transform=random_flip), batch_size=120)\n"
        ),
    ),
    dict(
        solution="loaders",
        test="test-loaders",
        why="mixes up the index arrays: the test loader serves the validation images",
        code=(
            "train_loader = DataLoader(LesionDataset(X[train_idx], y[train_idx], transform=random_flip), batch_size=32, shuffle=True)\n"
            "val_loader = DataLoader(LesionDataset(X[test_idx], y[test_idx]), batch_size=120)\n"
            "test_loader = DataLoader(LesionDataset(X[val_idx], y[val_idx]), batch_size=120)\n"
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
            "        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * 16 * 16, 2))\n"
            "    def forward(self, x):\n"
            "        return self.head(self.body(x))\n"
        ),
    ),
    dict(
        solution="model",
        test="test-model",
        why="pools with a fixed 16x16 window, which only works for 64x64 images",
        code=(
            "class GlobalPoolCNN(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.body = conv_body()\n"
            "        self.head = nn.Sequential(nn.MaxPool2d(16), nn.Flatten(), nn.Linear(16, 2))\n"
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
    # Exercise 8: linear baseline
    dict(
        solution="logreg",
        test="test-logreg",
        why="reports the training accuracy as the test accuracy",
        code=(
            "X_flat = X.reshape(len(X), -1)\n"
            "logreg = LogisticRegression(C=0.01, max_iter=1000).fit(X_flat[train_idx], y[train_idx])\n"
            "logreg_train_accuracy = logreg.score(X_flat[train_idx], y[train_idx])\n"
            "logreg_test_accuracy = logreg_train_accuracy\n"
        ),
    ),
    dict(
        solution="logreg",
        test="test-logreg",
        why="fits the model on all images, test set included (leakage)",
        code=(
            "X_flat = X.reshape(len(X), -1)\n"
            "logreg = LogisticRegression(C=0.01, max_iter=1000).fit(X_flat, y)\n"
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
]
