from pathlib import Path

import pytest

from models.persister import default_parameters, persister_model

REPO = Path(__file__).resolve().parent.parent
ARMS = REPO / "experiments" / "arms"


@pytest.fixture(scope="session")
def model():
    return persister_model()


@pytest.fixture(scope="session")
def parameter_vector(model):
    return model.parameter_vector(default_parameters())
