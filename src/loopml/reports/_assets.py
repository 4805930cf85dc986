"""What every HTML report shares: the Jinja2 environment and Plotly's JavaScript, inlined."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, PackageLoader, select_autoescape

from loopml.reports._format import fmt_sig


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
    env.filters["sig"] = fmt_sig  # {{ value|sig }}: 4 significant digits; |sig(2) for fewer
    return env
