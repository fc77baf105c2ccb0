"""Skip-gram with negative sampling: init, the noise distribution, the loss, and the similarity queries."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from neuralab.errors import NeuralabError
from neuralab.models.embedding import SkipGram

# Two groups of "twins": words 0 and 1 both appear next to 2 and 3; words 4 and 5 both appear next to 6 and 7.
# Words 8 and 9 only appear with each other. Pairs go both ways, as a symmetric window produces them.
TWIN_PAIRS = [(0, 2), (0, 3), (1, 2), (1, 3), (4, 6), (4, 7), (5, 6), (5, 7), (8, 9)]


def toy_batch() -> tuple[torch.Tensor, torch.Tensor]:
    pairs = torch.tensor(TWIN_PAIRS + [(o, c) for c, o in TWIN_PAIRS])
    return pairs[:, 0], pairs[:, 1]


def make(seed: int = 0, **kwargs) -> SkipGram:
    torch.manual_seed(seed)
    return SkipGram(**{"vocab_size": 10, "embedding_dim": 8, **kwargs})


def train(model: SkipGram, steps: int = 150, lr: float = 0.05) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    batch = toy_batch()
    for _ in range(steps):
        opt.zero_grad()
        model.loss(batch).backward()
        opt.step()


def seeded_loss(model: SkipGram, seed: int = 123) -> float:
    torch.manual_seed(seed)  # the same negatives each time
    with torch.no_grad():
        return model.loss(toy_batch()).item()


def test_skipgram_init_gradients_seed_and_safetensors(tmp_path):
    model = make()
    assert model.input.weight.abs().max() <= 0.5 / 8
    assert (model.output.weight == 0).all()
    torch.testing.assert_close(model.noise, torch.full((10,), 0.1))

    loss = model.loss(toy_batch())
    assert loss.dim() == 0 and torch.isfinite(loss)
    # at init the output vectors are zero, so every pair scores 0 and the loss is (1 + K)·log 2
    torch.testing.assert_close(loss, torch.tensor(6 * np.log(2), dtype=torch.float32))
    loss.backward()
    assert model.output.weight.grad.abs().sum() > 0
    assert model.input.weight.grad is not None  # zero at init: it is multiplied by the zero output vectors
    train(model, steps=1)
    model.zero_grad()
    model.loss(toy_batch()).backward()
    assert model.input.weight.grad.abs().sum() > 0

    assert torch.equal(make().input.weight, make().input.weight)
    assert not torch.equal(make(seed=1).input.weight, make().input.weight)

    model.set_noise(torch.arange(1.0, 11.0))
    save_file(model.state_dict(), tmp_path / "sg.safetensors")
    fresh = make(seed=7)
    fresh.load_state_dict(load_file(tmp_path / "sg.safetensors"))
    assert torch.equal(fresh.noise, model.noise)
    assert torch.equal(fresh.vectors(), model.vectors())
    assert fresh(torch.tensor([[1, 2]])).shape == (1, 2, 8)


def test_set_noise_is_counts_to_the_three_quarters_normalised_and_in_the_state_dict():
    model = SkipGram(vocab_size=4, embedding_dim=2)
    model.set_noise(torch.tensor([1, 16, 81, 0]))  # ^0.75 → 1, 8, 27, 0
    torch.testing.assert_close(model.noise, torch.tensor([1.0, 8.0, 27.0, 0.0]) / 36)
    assert "noise" in model.state_dict()
    loaded = SkipGram(vocab_size=4, embedding_dim=2)
    loaded.load_state_dict(model.state_dict())
    torch.testing.assert_close(loaded.noise, model.noise)
    # a zero-count word is never drawn as a negative
    torch.manual_seed(0)
    assert (torch.multinomial(loaded.noise, 1000, replacement=True) != 3).all()


def test_loss_matches_the_formula_for_given_negatives():
    model = make(negatives=3)
    torch.nn.init.normal_(model.output.weight)
    center, context = torch.tensor([0, 4]), torch.tensor([2, 6])
    torch.manual_seed(5)
    loss = model.loss((center, context))
    torch.manual_seed(5)
    negatives = torch.multinomial(model.noise, 2 * 3, replacement=True).view(2, 3)
    v, u = model.input.weight, model.output.weight
    expected = 0.0
    for b in range(2):
        c = center[b]
        expected = expected - F.logsigmoid(u[context[b]] @ v[c])
        expected = expected - sum(F.logsigmoid(-u[k] @ v[c]) for k in negatives[b])
    torch.testing.assert_close(loss, expected / 2)


def test_loss_decreases_and_twins_become_nearest_neighbours():
    model = make()
    before = seeded_loss(model)
    train(model)
    assert seeded_loss(model) < 0.5 * before
    for word, twin in ((0, 1), (1, 0), (4, 5), (5, 4)):
        indices, scores = model.most_similar(word, k=3)
        assert indices[0].item() == twin, f"word {word}: neighbours {indices.tolist()}"
        assert word not in indices.tolist()
        assert (scores[:-1] >= scores[1:]).all()  # best first
    indices, _ = model.most_similar(torch.tensor(0), k=3, exclude=[1])
    assert 1 not in indices.tolist() and 0 not in indices.tolist()


def test_vectors_are_unit_length_and_detached():
    model = make()
    vectors = model.vectors()
    assert vectors.shape == (10, 8) and not vectors.requires_grad
    torch.testing.assert_close(vectors.norm(dim=1), torch.ones(10))


def test_analogy_is_3cosadd_and_excludes_the_query_words():
    model = SkipGram(vocab_size=5, embedding_dim=3)
    # man, king, woman, queen, and a distractor; king − man + woman points at queen
    table = torch.tensor([[1.0, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1], [-1, 0, 0]])
    with torch.no_grad():
        model.input.weight.copy_(table)
    indices, scores = model.analogy(0, 1, 2, k=2)
    assert indices.tolist() == [3, 4]
    vectors = F.normalize(table, dim=1)
    query = F.normalize(vectors[1] - vectors[0] + vectors[2], dim=0)
    torch.testing.assert_close(scores[0], vectors[3] @ query)
    # woman (0.79) would outrank the distractor returned second (0.23), but query words are never returned
    assert vectors[2] @ query > scores[1] + 0.5
    with pytest.raises(NeuralabError, match=r"k must be an int in \[1, 2\]"):
        model.analogy(0, 1, 2, k=3)


@pytest.mark.parametrize(("call", "message"), [
    (lambda m: m.most_similar(10), r"index must be a word index in \[0, 10\); got 10"),
    (lambda m: m.most_similar(0, k=0), r"k must be an int in \[1, 9\]"),
    (lambda m: m.most_similar(torch.tensor([1, 2])), "index must be one integer word index"),
    (lambda m: m.set_noise(torch.ones(3)), r"counts must have shape \(vocab_size,\) = \(10,\); got \(3,\)"),
    (lambda m: m.set_noise(torch.zeros(10)), "counts must be non-negative and not all zero"),
    (lambda m: m.loss((torch.zeros(3, dtype=torch.long), torch.zeros(2, dtype=torch.long))),
     r"center and context must both be \(B,\); got \(3,\) and \(2,\)"),
    (lambda m: SkipGram(vocab_size=10, negatives=0), "negatives must be a positive int; got 0"),
])
def test_skipgram_errors_name_the_argument(call, message):
    with pytest.raises(NeuralabError, match=message):
        call(make())
