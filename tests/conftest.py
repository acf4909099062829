import shutil

import pytest

from helpers import (
    NO_REAL_MNIST,
    REAL_MNIST,
    ROOT,
    copy_project,
    make_git_repo,
    real_mnist_file,
    run,
    stages_run,
    tool_env,
    update_params,
    write_idx_set,
)
from mnist_pipeline import numerics
from mnist_pipeline.datasets import FILE_NAMES

# In-process tests compute as the shipped run does, in portable numerics on one thread,
# configured before any test computes (as each entry point configures its process first).
numerics.configure("portable", 1)

# Small, fast settings for pipelines on the synthetic data of helpers.write_idx_set.
SMALL_RUN = {
    "prepare.n_train": 200,
    "prepare.n_val": 50,
    "prepare.n_test": 50,
    "train.epochs": 2,
    "train.lr": 0.05,
    "log_every": 1,
}


@pytest.fixture
def synthetic_source(tmp_path):
    """A folder holding a synthetic data set; returns (folder, md5 by file name)."""
    folder = tmp_path / "source"
    return folder, write_idx_set(folder)


@pytest.fixture
def pipeline_repo(tmp_path, synthetic_source):
    """A git repository copied from the project, set to run fast on synthetic data."""
    folder, md5 = synthetic_source
    repo = copy_project(tmp_path / "repo")
    update_params(repo, {**SMALL_RUN, "fetch.sources": {"mnist": [str(folder)]}, "fetch.md5": md5})
    env = tool_env()
    make_git_repo(repo, env)
    return repo, env


@pytest.fixture(scope="session")
def shipped_run(tmp_path_factory):
    """The project as a fresh clone would have it (with the shipped dvc.lock and metrics),
    reproduced with `dvc repro` on the real MNIST. Returns (repo, env, stages that ran)."""
    if not all(real_mnist_file(name) for name in FILE_NAMES):
        pytest.skip(NO_REAL_MNIST)
    # The shipped files as git has them: outputs DVC caches are not among them.
    shipped = run(["git", "ls-files", "dvc.lock", "metrics"], ROOT, tool_env()).stdout.split()
    repo = copy_project(tmp_path_factory.mktemp("real") / "repo", extra=shipped)
    env = tool_env(DATASET_SOURCE=str(REAL_MNIST))
    make_git_repo(repo, env)
    ran = stages_run(run(["dvc", "repro"], repo, env).stdout)
    return repo, env, ran


CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium driven by Selenium, with every host name unresolvable."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Debian's chromium and chromium-driver (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'chromium-profile'}",
        # Every host name but this machine fails to resolve: pages must need no network.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ]:  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_window_size(1400, 2600)
    yield driver
    driver.quit()
