"""`make compare` (mnist-pipeline compare): a table of experiments that fits a terminal."""

from mnist_pipeline import compare


def revision(params: dict, val: float, test: float, loss: float) -> dict:
    return {
        "params": {"params.yaml": {"data": params}},
        "metrics": {
            "metrics/train/metrics.json": {"data": {"val": {"accuracy": val}, "step": 3}},
            "metrics/metrics.json": {"data": {"test": {"accuracy": test, "loss": loss}}},
        },
    }


BASE = {
    "fetch": {"dataset": "mnist", "sources": {"mnist": ["https://a/", "https://b/"]}},
    "prepare": {"n_train": 1000, "seed": 0},
    "train": {"seed": 0, "epochs": 50, "lr": 0.005, "optimizer": "sgd"},
}


def shown(*experiments: tuple[str, dict]) -> list:
    """The shape of `dvc exp show --json`: the workspace, then a baseline with experiments."""
    return [
        {"rev": "workspace", "name": None, "data": revision(BASE, 0.9, 0.92, 0.3)},
        {
            "rev": "0123456789abcdef", "name": "main", "data": revision(BASE, 0.9, 0.92, 0.3),
            "experiments": [
                {"name": name, "revs": [{"rev": "fedcba987654", "name": name, "data": data}]}
                for name, data in experiments
            ] + [{"name": "queued", "revs": [{"rev": "aaaaaaa", "name": "queued", "data": {}}]}],
        },
    ]  # fmt: skip


def with_changes(**changes) -> dict:
    params = {section: dict(keys) for section, keys in BASE.items()}
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        params[section][key] = value
    return params


def test_only_differing_params_and_three_numbers():
    table = compare.table(
        shown(
            ("lr-high", revision(with_changes(train__lr=0.05), 0.95, 0.951, 0.1612)),
            ("seed-1", revision(with_changes(train__seed=1), 0.91, 0.93, 0.25)),
        )
    ).splitlines()
    header = ["experiment", "lr", "train.seed", "val", "acc", "test", "acc", "test", "loss"]
    assert table[0].split() == header
    assert table[2].split() == ["workspace", "0.005", "0", "0.9000", "0.9200", "0.3000"]
    assert table[3].split()[0] == "main" and table[4].split()[:3] == ["lr-high", "0.05", "0"]
    assert table[5].split()[:3] == ["seed-1", "0.005", "1"]
    assert len(table) == 6  # the queued experiment, with no results yet, is left out


def test_at_most_twelve_columns_and_the_rest_named():
    many = {f"train__k{i}": i for i in range(10)}
    table = compare.table(shown(("wide", revision(with_changes(**many), 0.9, 0.9, 0.3))))
    lines = table.splitlines()
    assert len(lines[0].split()) == 1 + 8 + 6  # experiment, 8 params, three two-word columns
    assert lines[-1] == "(more params differ, not shown: train.k8, train.k9)"


def test_no_experiments_yet():
    assert "no experiments yet" in compare.table([])
