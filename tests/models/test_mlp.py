import pytest
import torch

from neuralab.errors import NeuralabError
from neuralab.models import MLP


def test_an_activation_without_hidden_layers_is_refused_not_dropped():
    with pytest.raises(NeuralabError, match=r"activation='step' acts between hidden layers.*output_activation='step'"):
        MLP(2, hidden_sizes=[], out_features=1, activation="step")


def test_output_activation_step_gives_a_threshold_unit():
    unit = MLP(2, hidden_sizes=[], out_features=1, output_activation="step")
    with torch.no_grad():
        unit.net[0].weight.copy_(torch.tensor([[1.0, 1.0]]))
        unit.net[0].bias.fill_(-1.5)  # AND
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    assert unit(x).flatten().tolist() == [0.0, 0.0, 0.0, 1.0]
