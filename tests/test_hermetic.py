"""The tests neither depend on nor change the user's DVC configuration: a default remote in
the clone's .dvc/config (as the README's sharing recipe commits it) or in the user's global
config stays out of the throwaway repositories the tests make."""

import os

import pytest

from helpers import PROJECT_FILES, copy_project, make_git_repo, run, tool_env

pytestmark = pytest.mark.heavy  # git and dvc run as processes

REMOTE = "['remote \"storage\"']\n    url = /mnt/team-remote\n"
USER_REMOTE = "[core]\n    remote = storage\n" + REMOTE
PROJECT_REMOTE = "[core]\n    autostage = true\n    remote = storage\n" + REMOTE


def test_a_projects_own_remote_is_not_copied(tmp_path):
    root = tmp_path / "clone"
    for name in PROJECT_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / ".dvc" / "config").write_text(PROJECT_REMOTE)
    before = (root / ".dvc" / "config").read_text()
    repo = copy_project(tmp_path / "repo", root=root)
    env = tool_env()
    make_git_repo(repo, env)
    assert run(["dvc", "remote", "list"], repo, env).stdout == ""
    assert run(["dvc", "config", "core.autostage"], repo, env).stdout.strip() == "true"
    run(["dvc", "remote", "add", "-d", "storage", str(tmp_path / "r")], repo, env)
    assert (root / ".dvc" / "config").read_text() == before


def test_a_users_global_config_is_not_read_or_changed(tmp_path, monkeypatch):
    user = tmp_path / "user-dvc-config"
    user.mkdir()
    (user / "config").write_text(USER_REMOTE)
    monkeypatch.setenv("DVC_GLOBAL_CONFIG_DIR", str(user))
    env = tool_env()
    repo = copy_project(tmp_path / "repo")
    make_git_repo(repo, env)
    assert run(["dvc", "remote", "list"], repo, env).stdout == ""
    run(["dvc", "remote", "add", "-d", "storage", str(tmp_path / "r")], repo, env)
    run(["dvc", "config", "--global", "core.autostage", "false"], repo, env)
    assert (user / "config").read_text() == USER_REMOTE
    assert os.environ["DVC_GLOBAL_CONFIG_DIR"] == str(user)
