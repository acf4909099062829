#!/usr/bin/env bash
# One experiment of a list, on one machine, in a clone of its own (DVC locks a repository
# against a second run, so parallel jobs never share one): clone the team's git repository,
# `dvc exp run --pull` (the data comes from the DVC remote, not from the internet), then
# `dvc exp push`, which sends the experiment's git ref and its cached files. The SLURM array
# (experiments.sbatch) and the SkyPilot task (experiments.sky.yaml) run this script, and so
# does tests/test_deploy.py. Needs `dvc` and `python` of the project's venv on PATH.
#
# Settings, from the environment:
#   EXP_GIT_URL  the team's git repository, to clone and push to (required)
#   EXP_REV      the commit or branch to start from (default main); its dvc.lock's data must
#                be on the DVC remote its .dvc/config names (`dvc push` after the run)
#   EXP_INDEX    which experiment: the N-th of the list, from 1 (default $SLURM_ARRAY_TASK_ID)
#   EXP_LIST     the list: one experiment a line, `NAME -S key=value ...`; blank lines and
#                `#` comments do not count (default: deploy/experiments.txt of EXP_REV)
#   EXP_CLONE    where to clone (default: a new folder under $TMPDIR, removed at the end)
# Credentials: git's own for EXP_GIT_URL (an SSH key, or a credential helper for HTTPS), and
# the DVC remote's in the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY for S3,
# GOOGLE_APPLICATION_CREDENTIALS for GCS): a clone has no .dvc/config.local.
set -euo pipefail

: "${EXP_GIT_URL:?set EXP_GIT_URL to the git repository to clone and push to}"
rev=${EXP_REV:-main}
index=${EXP_INDEX:-${SLURM_ARRAY_TASK_ID:?set EXP_INDEX (or run as a SLURM array task)}}
list=${EXP_LIST:-deploy/experiments.txt}
[[ -z ${EXP_LIST:-} || $list == /* ]] || list=$PWD/$list  # a given list: from here
clone=${EXP_CLONE:-}
if [[ -z $clone ]]; then
  clone=$(mktemp -d "${TMPDIR:-/tmp}/mnist-experiment-$index.XXXXXX")
  trap 'rm -rf "$clone"' EXIT
fi

git clone --quiet "$EXP_GIT_URL" "$clone"
cd "$clone"
git checkout --quiet "$rev"

# The index-th experiment: its name, then its `-S key=value` words (no spaces in values).
line=$(grep -Ev '^[[:space:]]*(#|$)' "$list" | sed -n "${index}p")
if [[ -z $line ]]; then
  echo "error: no experiment $index in $list" >&2
  exit 2
fi
read -r name settings <<<"$line"
echo "experiment $index: $name $settings (from $(git rev-parse --short HEAD))"

# shellcheck disable=SC2086  # the settings are words on purpose
dvc exp run --pull -n "$name" $settings
dvc exp push origin "$name"
