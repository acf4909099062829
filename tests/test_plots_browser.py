"""`dvc plots show` and `dvc plots diff` pages, rendered offline in a real headless Chromium."""

import json

import pytest

from helpers import ARTIFACTS, ROOT, commit, run, update_params

pytestmark = pytest.mark.slow

TEMPLATE = ROOT / "build/plots-template.html"

# Per Vega view: its canvas size and how many pixels were drawn; per image: its size.
INSPECT = """
const views = [...document.querySelectorAll('canvas.marks')].map(c => {
    const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let drawn = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) drawn++;
    const chart = c.closest('[id]');
    return {id: chart ? chart.id : null, width: c.width, height: c.height, drawn: drawn};
});
const images = [...document.querySelectorAll('img')].map(i => ({
    src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth}));
const errors = [...document.querySelectorAll('.vega-embed .error, .error')].map(e => e.textContent);
return JSON.stringify({views, images, errors});
"""


def render(browser, page, screenshot):
    from selenium.webdriver.support.ui import WebDriverWait

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


def test_plots_render_offline_in_chromium(pipeline_repo, tmp_path, browser):
    if not TEMPLATE.exists():
        pytest.skip(f"{TEMPLATE} missing: run `make plots-offline`")
    repo, env = pipeline_repo
    run(["dvc", "repro"], repo, env)
    commit(repo, env, "two epochs")
    update_params(repo, {"train.epochs": 4})
    run(["dvc", "repro"], repo, env)
    commit(repo, env, "four epochs")

    commands = {"show": ["dvc", "plots", "show"], "diff": ["dvc", "plots", "diff", "HEAD~1"]}
    for name, command in commands.items():
        out = tmp_path / name
        run([*command, "--html-template", str(TEMPLATE), "-o", str(out)], repo, env)
        html = (out / "index.html").read_text()
        assert "<script src=" not in html  # nothing loaded from elsewhere
        # The accuracy chart draws validation against training accuracy.
        assert "val/accuracy.tsv" in html and "train/accuracy.tsv" in html

        page = render(browser, out / "index.html", f"plots-{name}.png")
        assert page["errors"] == []
        charts = ["Loss", "Accuracy", "Test_confusion_matrix", "Test_accuracy_per_class"]
        assert [view["id"] for view in page["views"]] == charts
        for view in page["views"]:
            assert view["width"] > 100 and view["height"] > 100
            assert view["drawn"] > 2000, view  # axes, marks and labels were drawn
        pngs = [i for i in page["images"] if i["src"].endswith(".png")]
        revisions = 2 if name == "diff" else 1
        assert len(pngs) == 3 * revisions and all(i["complete"] and i["width"] > 100 for i in pngs)
