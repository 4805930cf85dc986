"""The data stages start without loading the modelling stack (a second saved per command)."""

from __future__ import annotations

import subprocess
import sys


def test_data_and_reports_do_not_import_the_modelling_stack() -> None:
    code = (
        "import sys, loopml, loopml.data, loopml.reports\n"
        "heavy = ['sklearn', 'lightgbm', 'optuna', 'mlflow', 'scipy.stats', "
        "'plotly.graph_objects']\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_lazy_public_names_resolve() -> None:
    import loopml

    assert loopml.Project.__name__ == "Project"
    assert loopml.AutoClassifier.__module__ == "loopml.modeling._auto"
