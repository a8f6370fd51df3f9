import os
from pathlib import Path

import pytest
from hypothesis import settings

from models.persister import default_parameters, persister_model

REPO = Path(__file__).resolve().parent.parent
ARMS = REPO / "experiments" / "arms"

# Hypothesis profiles (tests/test_properties.py): "ci" (default) runs a bounded, reproducible
# number of cases; "stress" runs 10 000 fresh ones (HYPOTHESIS_PROFILE=stress). Neither writes an
# example database into the repository. HYPOTHESIS_MAX_EXAMPLES=N overrides the count.
settings.register_profile("ci", max_examples=150, deadline=None, derandomize=True,
                          database=None, print_blob=True)
settings.register_profile("stress", max_examples=10_000, deadline=None, database=None,
                          print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
if os.environ.get("HYPOTHESIS_MAX_EXAMPLES"):
    settings.register_profile("overridden", settings(
        max_examples=int(os.environ["HYPOTHESIS_MAX_EXAMPLES"])))
    settings.load_profile("overridden")


@pytest.fixture(scope="session")
def model():
    return persister_model()


@pytest.fixture(scope="session")
def parameter_vector(model):
    return model.parameter_vector(default_parameters())
