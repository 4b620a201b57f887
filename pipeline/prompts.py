"""Prompt encoding with a bounded cache, and a report of the words each encoder dropped."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import torch
from diffusers import StableDiffusion3Pipeline

from pipeline.tokens import DroppedWords, TokenCounter

DEFAULT_CACHE_SIZE = 32


@dataclass(frozen=True)
class TextEmbedding:
    """One text encoded for the transformer: token embeddings, the pooled vector, and notes on
    the words the text encoders ignored."""

    tokens: torch.Tensor
    pooled: torch.Tensor
    dropped_words: tuple[DroppedWords, ...] = ()


class PromptEncoder:
    """Encodes texts with the pipeline's encoders and keeps the `cache_size` most recent results.

    Re-running a prompt, or a seed comparison of it, reuses its embeddings and skips the
    text encoders entirely. The key is (text, T5 sequence length).
    """

    def __init__(self, pipeline: StableDiffusion3Pipeline, cache_size: int = DEFAULT_CACHE_SIZE):
        self._pipeline = pipeline
        self.tokens = TokenCounter.of(pipeline)
        # Looked up once: diffusers finds it by walking every module (~7 ms for SD3.5 Large).
        self.device = pipeline._execution_device
        self._cache_size = cache_size
        self._cache: OrderedDict[tuple[str, int], TextEmbedding] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, text: str, max_sequence_length: int) -> TextEmbedding:
        """The embedding of `text`, from the cache when it was encoded recently."""
        key = (text, max_sequence_length)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        # encode_prompt has no no_grad of its own (only the pipeline's __call__ does): without this,
        # every cached embedding held the text encoders' autograd graph and activations alive.
        with torch.no_grad():
            tokens, _, pooled, _ = self._pipeline.encode_prompt(
                prompt=text,
                prompt_2=None,
                prompt_3=None,
                device=self.device,
                do_classifier_free_guidance=False,
                max_sequence_length=max_sequence_length,
            )
        dropped = tuple(self.tokens.dropped(text, max_sequence_length))
        embedding = TextEmbedding(tokens, pooled, dropped)
        with self._lock:
            self._cache[key] = embedding
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return embedding

    def clear(self) -> None:
        """Forget every cached embedding (used to free memory after an out-of-memory error)."""
        with self._lock:
            self._cache.clear()
