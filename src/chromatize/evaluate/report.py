"""The self-contained HTML report of `chromatize evaluate` (tables, sample grid, histograms, AuC curves)."""

from __future__ import annotations

import base64
import io

import numpy as np
from jinja2 import Environment
from PIL import Image

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>chromatize evaluation: {{ title }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:85%;display:block;overflow-x:auto}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}tr.gray td{color:#666}img{max-width:100%}
.flag{color:#a40}.note{color:#555;font-size:90%}
</style></head><body>
<h1>chromatize evaluation</h1>
<p>{{ summary }}</p>
{% for sec in sections %}
<h2>{{ sec.title }}</h2>
{% if sec.note %}<p class="note">{{ sec.note }}</p>{% endif %}
{% if sec.table %}<table><tr>{% for h in sec.table.header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in sec.table.rows %}<tr class="{{ row.cls }}">{% for c in row.cells %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}
</table>{% endif %}
{% for img in sec.images %}<figure><img alt="{{ img.alt }}" src="data:image/png;base64,{{ img.data }}">
<figcaption class="note">{{ img.alt }}</figcaption></figure>{% endfor %}
{% endfor %}
</body></html>"""


def png_b64(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def fig_b64(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def auc_plot(models: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, key, title in [(axes[0], "auc_curve", "raw"), (axes[1], "auc_curve_rebalanced", "re-balanced")]:
        for name, r in models.items():
            ax.plot(r[key], label=f"{name} ({np.mean(r[key]) * 100:.1f})", ls="--" if name == "gray" else "-")
        ax.set_xlabel("ab error threshold (CIELAB)")
        ax.set_ylabel("fraction of pixels within")
        ax.set_title(f"cumulative ab error, {title}")
        ax.legend(fontsize=8)
    return fig_b64(fig)


def colourfulness_plot(models: dict, truth: list[float]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(models)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.8), sharey=True)
    axes = np.atleast_1d(axes)
    bins = np.linspace(0, max(max(truth), 1) * 1.05, 30)
    for ax, name in zip(axes, names):
        ax.hist(truth, bins=bins, alpha=0.4, label="truth", color="gray")
        ax.hist(models[name]["colourfulness_per_image"], bins=bins, alpha=0.7, label=name)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("colourfulness")
        ax.legend(fontsize=7)
    return fig_b64(fig)


def render(title: str, summary: str, sections: list[dict]) -> str:
    return Environment(autoescape=True).from_string(TEMPLATE).render(title=title, summary=summary, sections=sections)


def label_header(labels: list[str], width: int, height: int = 18) -> Image.Image:
    """A white strip with one label centred over each of ``len(labels)`` equal columns."""
    from PIL import ImageDraw

    strip = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(strip)
    col = width / max(len(labels), 1)
    for j, text in enumerate(labels):
        text = text if len(text) * 6 < col else "..." + text[-int(col // 6) + 3 :]
        w = d.textlength(text)
        d.text((j * col + (col - w) / 2, 3), text, fill="black")
    return strip


def with_header(grid: Image.Image, labels: list[str]) -> Image.Image:
    head = label_header(labels, grid.width)
    out = Image.new("RGB", (grid.width, grid.height + head.height), "white")
    out.paste(head, (0, 0))
    out.paste(grid, (0, head.height))
    return out


def sample_grid(columns: list[list[Image.Image]], tile: int = 128, labels: list[str] | None = None) -> Image.Image:
    """Rows of images, one column per source (gray | each model | truth), each fitted into a tile;
    ``labels`` name the columns in a header."""
    n = max(len(c) for c in columns)
    grid = Image.new("RGB", (tile * len(columns), tile * n), "white")
    for j, col in enumerate(columns):
        for i, im in enumerate(col):
            im = im.convert("RGB")
            s = tile / max(im.size)
            im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.LANCZOS)
            grid.paste(im, (j * tile + (tile - im.width) // 2, i * tile + (tile - im.height) // 2))
    return with_header(grid, labels) if labels else grid
