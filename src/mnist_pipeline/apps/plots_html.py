"""An HTML template for `dvc plots show` that works offline.

DVC's default page loads vega, vega-lite and vega-embed from a CDN, so on a machine without
internet it shows nothing. This template carries the three libraries, installed from npm at
the versions pinned in package.json, inline in the page instead.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import PipelineError

LIBRARIES = [  # order matters: vega-lite needs vega, vega-embed needs both
    "vega/build/vega.min.js",
    "vega-lite/build/vega-lite.min.js",
    "vega-embed/build/vega-embed.min.js",
]

PAGE = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>DVC Plot</title>
    <!-- vega, vega-lite and vega-embed, inline: this page needs no network. -->
{libraries}
    <style>
        body {{ font-family: sans-serif; }}
        table {{ border-spacing: 15px; }}
        /* DVC puts a plot's images (one a revision) in a row that does not wrap, wider than
           the page: let the row wrap, and shrink an image wider than the page to fit. */
        div[id] {{ white-space: normal !important; }}
        img {{ max-width: 100%; }}
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def offline_template(node_modules: Path) -> str:
    """The page, with DVC's {plot_divs} and {refresh_tag} placeholders and no {scripts}."""
    scripts = []
    for library in LIBRARIES:
        path = Path(node_modules) / library
        try:
            code = path.read_text(encoding="utf-8")
        except OSError:
            raise PipelineError(f"{path}: not found (run `npm ci` first)") from None
        # A literal "</script" inside the code would end the inline element early.
        code = code.replace("</script", "<\\/script")
        scripts.append(f"    <script>{code}</script>")
    return PAGE.format(
        refresh_tag="{refresh_tag}", libraries="\n".join(scripts), plot_divs="{plot_divs}"
    )
