"""What every HTML report shares: the Jinja2 environment and Plotly's JavaScript, inlined."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, PackageLoader, select_autoescape

from loopml._display import fmt_num


@lru_cache(maxsize=1)
def plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    # keep "</script>" inside the bundle from closing our script tag
    return get_plotlyjs().replace("</script", "<\\/script")


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("loopml.reports", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = (
        fmt_num  # {{ value|num }} a metric; {{ value|num(2) }} 2 significant digits
    )
    return env
