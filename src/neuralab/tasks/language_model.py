"""Language modelling: the next character of a text, scored in nats and bits per character, and text generation.

The model's own ``loss(batch)`` is the mean cross-entropy of the next character (nats); bits are the same divided by
log 2. ``predict`` and ``sample`` continue a prompt; the report shows 300 characters sampled with a fixed seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuralab.data.prepared import PreparedData
from neuralab.errors import NeuralabError
from neuralab.report.sequences import plot_text_sample
from neuralab.runs.recipe import DataConfig, Recipe
from neuralab.tasks._common import own_loss
from neuralab.tasks._text import CharInputs, TextData, generate_text, prepare_language_model
from neuralab.tasks.base import Predictions, Task
from neuralab.train.state import atomic_write_text

if TYPE_CHECKING:
    from neuralab.runs.run import Run

__all__ = ["LanguageModel"]

SAMPLE_LENGTH, SAMPLE_TEMPERATURE, SAMPLE_SEED = 300, 0.8, 0
DEFAULT_LENGTH, DEFAULT_TEMPERATURE = 500, 1.0


@dataclass(frozen=True)
class LanguageModel(Task):
    """The next character of a text (a character-level RNN)."""

    name: str = "language_model"
    summary: str = "the next character of a text, and text generated from a prompt"
    predict_options: tuple[str, ...] = ("length", "temperature", "seed")
    sample_options: tuple[str, ...] = ("prompt", "length", "temperature", "seed")
    verbs: tuple[str, ...] = ("generate",)

    def data_schema(self, data: dict[str, Any]) -> type[DataConfig]:
        return TextData

    def own_data(self, path: str) -> dict[str, Any]:
        return {"name": "text", "path": path}

    def loss_note(self, recipe: Recipe) -> str:
        return ("loss is the cross-entropy of the next character, in nats per character; bits_per_char is the same "
                "divided by ln 2 (a uniform guess over V characters scores log2 V bits).")

    def prepare(self, recipe: Recipe) -> PreparedData:
        return prepare_language_model(recipe)

    def make_inputs(self, recipe: Recipe) -> CharInputs:
        return CharInputs()

    def score(self, run: Run, split: Any, targets: np.ndarray) -> dict[str, float]:
        result = own_loss(run, split)
        result["bits_per_char"] = result["loss"] / math.log(2)  # the loss is in nats per character
        return result

    def predict_prepared(self, run: Run, split: Any) -> np.ndarray:
        """The most likely next character after each prepared block."""
        logits = run.outputs(split)[0]  # (N, T, V)
        return np.asarray(run.inputs.vocab.chars)[logits[:, -1].argmax(-1).numpy()]

    def generate(self, run: Run, prompt: str, length: int = DEFAULT_LENGTH, temperature: float = DEFAULT_TEMPERATURE,
                 seed: int = 0) -> str:
        """The prompt followed by ``length`` characters sampled from the run.

        A ``temperature`` below 1 gives safer text, above 1 wilder text; the same ``seed`` gives the same text.
        A prompt character outside the run's vocabulary is a DataError that lists them.
        """
        return generate_text(run, prompt, length, temperature, seed)

    @staticmethod
    def _settings(options: dict[str, Any]) -> dict[str, Any]:
        """Length, temperature and seed of generation: those given, the defaults for the others (0 is a value)."""
        given = {"length": options.get("length"), "temperature": options.get("temperature"),
                 "seed": options.get("seed")}
        defaults = {"length": DEFAULT_LENGTH, "temperature": DEFAULT_TEMPERATURE, "seed": 0}
        return {key: defaults[key] if value is None else value for key, value in given.items()}

    def figures(self, run: Run, data: PreparedData, metrics: dict[str, Any], out: Path) -> list[dict[str, str]]:
        """A sample of generated text, saved as ``sample.txt`` and drawn."""
        chars = run.inputs.vocab.chars
        prompt = "\n" if "\n" in chars else data.raw["text"][0]
        text = self.generate(run, prompt, length=SAMPLE_LENGTH, temperature=SAMPLE_TEMPERATURE, seed=SAMPLE_SEED)
        atomic_write_text(out / "sample.txt", text)
        path = plot_text_sample(text, out / "sample.png", title=f"{SAMPLE_LENGTH} sampled characters")
        caption = (f"Generated after the prompt {prompt!r} at temperature {SAMPLE_TEMPERATURE}, seed {SAMPLE_SEED}; "
                   "the text is in sample.txt. More: neuralab sample RUN --prompt \"...\" --temperature 0.8")
        return [{"file": path.name, "title": "A sample of generated text", "caption": caption}]

    def predict(self, run: Run, inputs: Sequence[Any], **options: Any) -> Predictions:
        """Each prompt continued: one row per prompt with the generated text."""
        self.check_options("predict", self.predict_options, options)
        if not inputs:
            raise NeuralabError("give one or more prompts to continue, e.g. neuralab predict RUN \"ROMEO:\"")
        settings = self._settings(options)
        rows = [{"prompt": str(prompt), "text": self.generate(run, str(prompt), **settings), "error": None}
                for prompt in inputs]
        return Predictions(["prompt", "text", "error"], rows, [("prompt", lambda r: r["prompt"]),
                                                               ("text", lambda r: r["text"])])

    def write_samples(self, run: Run, output: Path | None, **options: Any) -> str:
        """Text after ``prompt`` (a new line by default); written to ``output`` when given, else returned."""
        self.check_options("sample", self.sample_options, options)
        prompt = "\n" if options.get("prompt") is None else options["prompt"]
        text = self.generate(run, prompt, **self._settings(options))
        if output is None:
            return text
        atomic_write_text(output, text)
        return f"wrote {len(text)} characters to {output}"
