"""`dvc plots` after `make repro`: the offline page made on the way (or one line saying why
not), every chart drawn in a headless Chromium with no network, one colour and one word per
revision in every chart, images that fit a 1200-px page."""

import json
import shutil

import pytest

from conftest import SMALL_RUN
from helpers import (
    ARTIFACTS,
    ROOT,
    commit,
    copy_project,
    make_git_repo,
    run,
    tool_env,
    update_params,
    write_idx_set,
)

pytestmark = pytest.mark.slow

NPM = shutil.which("npm")
# What `make repro` needs beside the pipeline: the Makefile, npm's pins, git's ignore list.
MAKE_FILES = ["Makefile", "package.json", "package-lock.json", ".gitignore"]
VENV = ROOT / ".venv"
NOTE = "note: dvc plots pages need internet to draw their charts"
PAGE_WIDTH = 1200


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    """A project copy with three commits, each made by `make repro` (2, 3, 4 epochs): the
    first without npm, the second with the npm registry unreachable, the third as a user with
    npm has it. Returns (repo, env, [(make's result, the local DVC config after it)])."""
    base = tmp_path_factory.mktemp("plots")
    md5 = write_idx_set(base / "source")
    repo = copy_project(base / "repo", extra=MAKE_FILES)
    update_params(
        repo, {**SMALL_RUN, "fetch.sources": {"mnist": [str(base / "source")]}, "fetch.md5": md5}
    )
    env = tool_env()
    for variable in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # when run by `make test`
        env.pop(variable, None)
    make_git_repo(repo, env)
    unreachable = {"npm_config_registry": "http://127.0.0.1:9/",
                   "npm_config_cache": str(base / "empty-npm-cache")}  # fmt: skip
    # This checkout's venv, taken as it is: the copy has no venv of its own to make.
    make = ["make", f"VENV={VENV}", "-o", f"{VENV}/.run-installed", "repro"]
    runs = []
    for epochs, extra_args, extra_env in [
        (2, [f"NPM={base / 'no-such-npm'}"], {}),
        (3, [], unreachable),
        (4, [], {}),
    ]:
        update_params(repo, {"train.epochs": epochs})
        result = run([*make, *extra_args], repo, {**env, **extra_env})
        local_config = repo / ".dvc/config.local"
        runs.append((result, local_config.read_text() if local_config.exists() else ""))
        commit(repo, env, f"{epochs} epochs")
    return repo, env, runs


def notes(result):
    return [line for line in (result.stdout + result.stderr).splitlines() if "note:" in line]


def assert_ran_with_one_note(run, note):
    """The pipeline ran, the one line about the page is `note`, and no page was configured."""
    result, local_config = run
    output = result.stdout + result.stderr
    assert notes(result) == [note]
    assert "npm error" not in output  # in the log, not on the screen
    assert "Running stage 'train'" in result.stdout and "test accuracy" in result.stdout
    assert "html_template" not in local_config


def test_make_repro_without_npm_says_so_in_one_line_and_runs(three_runs):
    _, _, runs = three_runs
    assert_ran_with_one_note(
        runs[0],
        f"{NOTE} (no npm); for an offline page install Node.js with npm, then run make "
        "plots-offline",
    )


@pytest.mark.skipif(not NPM, reason="needs npm")
def test_make_repro_with_the_npm_registry_unreachable_says_so_in_one_line(three_runs):
    _, _, runs = three_runs
    assert_ran_with_one_note(
        runs[1],
        f"{NOTE} (npm failed, build/plots-offline.log); for an offline page run make "
        "plots-offline with the npm registry reachable",
    )


# Per Vega view: its canvas size and how many pixels were drawn; per image: its size, and
# whether its box fits the page; per box of images: whether it has to scroll sideways.
INSPECT = """
const views = [...document.querySelectorAll('canvas.marks')].map(c => {
    const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let drawn = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) drawn++;
    const chart = c.closest('[id]');
    return {id: chart ? chart.id : null, width: c.width, height: c.height, drawn: drawn};
});
const images = [...document.querySelectorAll('img')].map(i => ({
    src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth,
    right: i.getBoundingClientRect().right}));
const scrolling = [...document.querySelectorAll('div[id]')]
    .filter(d => d.scrollWidth > d.clientWidth).map(d => d.id);
const errors = [...document.querySelectorAll('.vega-embed .error, .error')].map(e => e.textContent);
return JSON.stringify({views, images, scrolling, errors,
    pageWidth: document.documentElement.clientWidth});
"""


def render(browser, page, screenshot):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.set_window_size(PAGE_WIDTH, 3000)
    browser.get(page.as_uri())
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return document.querySelectorAll('canvas.marks').length") >= 4
    )
    WebDriverWait(browser, 10).until(
        lambda d: d.execute_script("return [...document.images].every(i => i.complete)")
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / screenshot))
    return json.loads(browser.execute_script(INSPECT))


@pytest.mark.skipif(not NPM, reason="needs npm: `make repro` makes the offline page with it")
def test_after_make_repro_plots_draw_every_chart_offline(three_runs, tmp_path, browser):
    repo, env, runs = three_runs
    result, local_config = runs[2]
    assert notes(result) == []
    assert "html_template = ../build/plots-template.html" in local_config

    revisions = ["HEAD~2", "HEAD~1", "HEAD"]
    commands = {"show": ["dvc", "plots", "show"], "diff": ["dvc", "plots", "diff", *revisions]}
    for name, command in commands.items():
        out = tmp_path / name
        run([*command, "-o", str(out)], repo, env)  # the page `make repro` set up
        html = (out / "index.html").read_text()
        assert "<script src=" not in html  # nothing loaded from elsewhere
        # The accuracy chart draws validation against training accuracy.
        assert "val/accuracy.tsv" in html and "train/accuracy.tsv" in html

        page = render(browser, out / "index.html", f"plots-{name}.png")
        assert page["errors"] == []
        charts = ["Loss", "Accuracy", "metrics_plots_confusion_csv", "metrics_plots_per_class_csv"]
        assert [view["id"] for view in page["views"]] == charts
        for view in page["views"]:
            assert view["width"] > 100 and view["height"] > 100
            assert view["drawn"] > 2000, view  # axes, marks and labels were drawn
        pngs = [i for i in page["images"] if i["src"].endswith(".png")]
        assert len(pngs) == 3 * (len(revisions) if name == "diff" else 1)
        assert all(i["complete"] and 100 < i["width"] <= PAGE_WIDTH for i in pngs), pngs
        # Every image inside the page, none in a box that scrolls sideways.
        assert page["pageWidth"] <= PAGE_WIDTH
        assert all(i["right"] <= page["pageWidth"] for i in pngs), pngs
        assert page["scrolling"] == []


REV_CHANNELS = {"color", "stroke", "fill"}


def rev_encodings(spec):
    """Every encoding of the field "rev" in a Vega-Lite spec: (channel, definition)."""
    if isinstance(spec, list):
        for item in spec:
            yield from rev_encodings(item)
    elif isinstance(spec, dict):
        for key, value in spec.items():
            if isinstance(value, dict) and value.get("field") == "rev":
                yield key, value
            if key == "tooltip" and isinstance(value, list):
                yield from ((key, v) for v in value if v.get("field") == "rev")
            yield from rev_encodings(value)


def test_plots_diff_gives_each_revision_one_colour_and_word(three_runs):
    repo, env, _ = three_runs
    revisions = ["HEAD~2", "HEAD~1", "HEAD"]
    plots = json.loads(run(["dvc", "plots", "diff", *revisions, "--json"], repo, env).stdout)
    charts = {name: items[0]["content"] for name, items in plots["data"].items()
              if items[0]["type"] == "vega"}  # fmt: skip
    assert len(charts) == 4, list(charts)
    colours, words = [], set()
    for name, spec in charts.items():
        encodings = list(rev_encodings(spec))
        scales = [e["scale"] for c, e in encodings if c in REV_CHANNELS and "scale" in e]
        assert scales, f"{name}: no colour for the revision"
        colours += [dict(zip(s["domain"], s["range"], strict=True)) for s in scales]
        # A legend's or tooltip's title is the field's name unless it names another; the
        # confusion matrices' column headers name the revision and need no title.
        words |= {e.get("title", "rev") for c, e in encodings if c != "column"}
    assert all(c == colours[0] for c in colours), colours
    assert sorted(colours[0]) == sorted(revisions)
    assert len(set(colours[0].values())) == len(revisions)  # three colours
    assert words == {"rev"}, words
