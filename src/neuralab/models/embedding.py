"""Skip-gram word vectors trained with negative sampling (Mikolov, Sutskever, Chen, Corrado & Dean 2013,
"Distributed representations of words and phrases and their compositionality", NeurIPS).

Every word ``w`` has two vectors: an input vector ``v_w`` (the word vector we keep) and an output vector ``u_w``
(used only to score contexts). For each ``(center c, context o)`` pair seen in a text window, skip-gram with
negative sampling minimises::

    −log σ(u_o · v_c) − Σ_{k=1..K} log σ(−u_k · v_c),      u_k drawn from the noise distribution P_n

so true pairs score high and ``K`` random "negative" words score low. The paper's ``P_n`` is the unigram
distribution raised to the 3/4 power (:meth:`SkipGram.set_noise`), which samples rare words more often than their
frequency. Words that appear in similar contexts end up with similar input vectors. Vector arithmetic then answers
analogies such as ``king − man + woman ≈ queen`` (Mikolov, Yih & Zweig 2013, "Linguistic regularities in
continuous space word representations"; the additive rule is 3CosAdd in Levy & Goldberg 2014, "Linguistic
regularities in sparse and explicit word representations").

This file works on integer word indices only. The vocabulary (word ↔ index, counts) belongs to the data layer.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuralab.errors import NeuralabError

__all__ = ["SkipGram"]

NOISE_POWER = 0.75  # the paper's exponent on unigram counts


class SkipGram(nn.Module):
    """Skip-gram with negative sampling: ``input`` holds the word vectors, ``output`` the context vectors.

    Parameters
    ----------
    vocab_size
        Number of words ``V``.
    embedding_dim
        Size ``D`` of each vector.
    negatives
        Noise words ``K`` sampled per positive pair (the paper uses 5–20 for small data, 2–5 for large).

    Attributes
    ----------
    input, output : nn.Embedding
        ``(V, D)`` tables, initialised as word2vec does: input uniform in ``±0.5/D``, output zeros.
    noise : Tensor
        Buffer ``(V,)``, the negative-sampling distribution. It is uniform until :meth:`set_noise` is called, and
        it is saved in the ``state_dict``.

    Examples
    --------
    >>> model = SkipGram(vocab_size=50, embedding_dim=8)
    >>> model.set_noise(torch.arange(1, 51))
    >>> model.loss((torch.tensor([1, 2]), torch.tensor([3, 4]))).shape  # a scalar
    torch.Size([])
    >>> indices, scores = model.most_similar(1, k=3)
    >>> indices.shape
    torch.Size([3])
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 100, *, negatives: int = 5) -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("embedding_dim", embedding_dim), ("negatives", negatives)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise NeuralabError(f"{name} must be a positive int; got {value!r}")
        self.vocab_size, self.embedding_dim, self.negatives = vocab_size, embedding_dim, negatives
        self.input = nn.Embedding(vocab_size, embedding_dim)
        self.output = nn.Embedding(vocab_size, embedding_dim)
        # word2vec's init: small random word vectors and zero context vectors, so the first updates are symmetric.
        nn.init.uniform_(self.input.weight, -0.5 / embedding_dim, 0.5 / embedding_dim)
        nn.init.zeros_(self.output.weight)
        self.register_buffer("noise", torch.full((vocab_size,), 1.0 / vocab_size))

    def forward(self, index: Tensor) -> Tensor:
        """The (unnormalised) word vectors ``(..., D)`` of ``index`` ``(...)``."""
        return self.input(index)

    def set_noise(self, counts: Tensor) -> None:
        """Set the noise distribution to ``counts^0.75``, normalised to sum to 1.

        Parameters
        ----------
        counts
            ``(V,)`` non-negative word frequencies in the training corpus, not all zero.
        """
        if counts.shape != (self.vocab_size,):
            raise NeuralabError(f"counts must have shape (vocab_size,) = ({self.vocab_size},); got "
                                f"{tuple(counts.shape)}")
        counts = counts.detach().to(self.noise.device, torch.float64)
        if counts.min() < 0 or counts.sum() <= 0:
            raise NeuralabError("counts must be non-negative and not all zero")
        weights = counts.pow(NOISE_POWER)
        self.noise.copy_(weights / weights.sum())

    def loss(self, batch: tuple[Tensor, Tensor]) -> Tensor:
        """Mean negative-sampling loss over ``batch = (center (B,), context (B,))``, both long.

        Each pair draws its own ``K`` negatives from ``noise``, with replacement. A negative may hit the true
        context word. That is rare in a real vocabulary, and we do not re-draw, just as word2vec's C code does not.
        """
        if len(batch) != 2:
            raise NeuralabError(f"SkipGram.loss expects a batch (center, context); got {len(batch)} tensors")
        center, context = batch
        if center.dim() != 1 or center.shape != context.shape:
            raise NeuralabError(f"center and context must both be (B,); got {tuple(center.shape)} and "
                                f"{tuple(context.shape)}")
        B, K = center.shape[0], self.negatives
        v = self.input(center)  # (B, D)
        u_pos = self.output(context)  # (B, D)
        noise_words = torch.multinomial(self.noise, B * K, replacement=True).view(B, K)  # (B, K)
        u_neg = self.output(noise_words)  # (B, K, D)
        positive = F.logsigmoid((u_pos * v).sum(-1))  # (B,)
        negative = F.logsigmoid(-torch.bmm(u_neg, v.unsqueeze(-1)).squeeze(-1)).sum(-1)  # (B,)
        return -(positive + negative).mean()

    @torch.no_grad()
    def vectors(self) -> Tensor:
        """The word vectors, L2-normalised, as a ``(V, D)`` tensor outside the graph."""
        return F.normalize(self.input.weight.detach(), dim=1)

    @torch.no_grad()
    def most_similar(self, index: int | Tensor, k: int = 10, exclude: Sequence[int] = ()) -> tuple[Tensor, Tensor]:
        """The ``k`` words whose vectors have the highest cosine similarity to word ``index``.

        Parameters
        ----------
        index
            The query word, as an int or a 0-d integer tensor. It is never returned.
        k
            Number of neighbours.
        exclude
            Further word indices to leave out.

        Returns
        -------
        (Tensor, Tensor)
            Indices ``(k,)`` long and cosine similarities ``(k,)``, most similar first.
        """
        index = self._check_index("index", index)
        vectors = self.vectors()
        return self._nearest(vectors[index], vectors, k, [index, *exclude])

    @torch.no_grad()
    def analogy(self, a: int, b: int, c: int, k: int = 5) -> tuple[Tensor, Tensor]:
        """Answer "``a`` is to ``b`` as ``c`` is to ?" by the words nearest to ``b − a + c`` (3CosAdd).

        The query is built from normalised vectors and normalised again. ``a``, ``b`` and ``c`` themselves are
        excluded, as is standard: otherwise ``b`` or ``c`` would usually win.

        Returns
        -------
        (Tensor, Tensor)
            Indices ``(k,)`` long and cosine similarities to the query ``(k,)``, best first.
        """
        a, b, c = (self._check_index(name, i) for name, i in (("a", a), ("b", b), ("c", c)))
        vectors = self.vectors()
        query = F.normalize(vectors[b] - vectors[a] + vectors[c], dim=0)  # (D,)
        return self._nearest(query, vectors, k, [a, b, c])

    def _nearest(self, query: Tensor, vectors: Tensor, k: int, exclude: Sequence[int]) -> tuple[Tensor, Tensor]:
        """Top-``k`` cosine neighbours of a unit ``query`` (D,) among unit ``vectors`` (V, D), skipping ``exclude``."""
        excluded = sorted({self._check_index("exclude", i) for i in exclude})
        available = self.vocab_size - len(excluded)
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= available:
            raise NeuralabError(f"k must be an int in [1, {available}] (the words left after excluding "
                                f"{len(excluded)}); got {k!r}")
        scores = vectors @ query  # (V,)
        scores[excluded] = float("-inf")
        top = scores.topk(k)
        return top.indices, top.values

    def _check_index(self, name: str, index: int | Tensor) -> int:
        """A word index as a Python int in ``[0, V)``, or a clear error."""
        if isinstance(index, Tensor):
            if index.numel() != 1 or index.is_floating_point():
                raise NeuralabError(f"{name} must be one integer word index; got {index.dtype} of shape "
                                    f"{tuple(index.shape)}")
            index = int(index.item())
        elif not isinstance(index, bool) and hasattr(index, "__index__"):
            index = operator.index(index)  # numpy integers too
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < self.vocab_size:
            raise NeuralabError(f"{name} must be a word index in [0, {self.vocab_size}); got {index!r}")
        return index
