"""How much of a prompt the text encoders read: token counts against their limits, and the words cut off.

CLIP (both CLIP encoders of SD3 share one vocabulary) reads 77 tokens; T5 reads the request's
`max_sequence_length`. Counts include the special tokens, as the encoders see them.
"""

from __future__ import annotations

from dataclasses import dataclass

CLIP = "CLIP"
T5 = "T5"


@dataclass(frozen=True)
class TokenCount:
    """A prompt's tokens per encoder and each encoder's limit; `t5` is None when T5 is not loaded."""

    clip: int
    clip_limit: int
    t5: int | None
    t5_limit: int


@dataclass(frozen=True)
class DroppedWords:
    """The end of a prompt that one encoder does not read, as whole words of the prompt itself."""

    encoder: str
    limit: int
    text: str

    @property
    def words(self) -> int:
        return len(self.text.split())

    def __str__(self) -> str:
        return f"{self.encoder} reads {self.limit} tokens and ignored: {self.text}"


class TokenCounter:
    """Counts a prompt's tokens with the pipeline's own tokenizers.

    Args:
        clip_tokenizer: the CLIP tokenizer (`pipeline.tokenizer`).
        clip_limit: the tokens CLIP reads (`pipeline.tokenizer_max_length`, 77).
        t5_tokenizer: the T5 tokenizer (`pipeline.tokenizer_3`), or None when T5 is dropped.
    """

    def __init__(self, clip_tokenizer, clip_limit: int, t5_tokenizer=None):
        self._clip = clip_tokenizer
        self._clip_limit = clip_limit
        self._t5 = t5_tokenizer

    @classmethod
    def of(cls, pipeline) -> "TokenCounter":
        """The counter of a loaded `StableDiffusion3Pipeline`."""
        return cls(pipeline.tokenizer, pipeline.tokenizer_max_length, pipeline.tokenizer_3)

    def count(self, text: str, max_sequence_length: int) -> TokenCount:
        """The tokens of `text` for each encoder, with T5 reading `max_sequence_length`."""
        t5 = None if self._t5 is None else len(_ids(self._t5, text))
        return TokenCount(len(_ids(self._clip, text)), self._clip_limit, t5, max_sequence_length)

    def dropped(self, text: str, max_sequence_length: int) -> list[DroppedWords]:
        """Per encoder that cannot read all of `text`, the words it leaves out (CLIP first)."""
        encoders = [(CLIP, self._clip, self._clip_limit)]
        if self._t5 is not None:
            encoders.append((T5, self._t5, max_sequence_length))
        found = []
        for name, tokenizer, limit in encoders:
            words = _words_past(tokenizer, text, limit)
            if words:
                found.append(DroppedWords(name, limit, words))
        return found


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text).input_ids


def _words_past(tokenizer, text: str, limit: int) -> str:
    """The words of `text` after the longest run of whole words that fits in `limit` tokens ('' when
    all fit): a word the cut falls inside counts as not read, so the quote starts on a word boundary.

    Found by bisection over word counts (a few tokenizations), not by decoding the tokens cut off:
    decoding lowercases, splits punctuation into words of its own and joins subwords its own way.
    """
    if len(_ids(tokenizer, text)) <= limit:
        return ""
    words = text.split()
    fitting, too_many = 0, len(words)  # words[:fitting] fit in `limit`; words[:too_many] do not
    while too_many - fitting > 1:
        middle = (fitting + too_many) // 2
        if len(_ids(tokenizer, " ".join(words[:middle]))) <= limit:
            fitting = middle
        else:
            too_many = middle
    return " ".join(words[fitting:])
