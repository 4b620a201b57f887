"""Token counts per text encoder, and the words each leaves out, as whole words of the prompt."""

from pipeline.random_model import build_clip_tokenizer, build_t5_tokenizer
from pipeline.tokens import DroppedWords, TokenCount, TokenCounter

# The tiny tokenizers read one token per character (and one per space, for T5).
COUNTER = TokenCounter(build_clip_tokenizer(), 77, build_t5_tokenizer())


def test_counts_include_the_special_tokens_and_compare_with_each_limit():
    assert COUNTER.count("a cat", 256) == TokenCount(clip=6, clip_limit=77, t5=5, t5_limit=256)
    long = COUNTER.count("x" * 80, 256)
    assert long.clip > long.clip_limit and long.t5 <= long.t5_limit  # CLIP cannot read it all; T5 can


def test_without_t5_only_clip_is_counted():
    counter = TokenCounter(build_clip_tokenizer(), 77)
    assert counter.count("a cat", 256).t5 is None
    assert [words.encoder for words in counter.dropped("word " * 40, 77)] == ["CLIP"]


def test_dropped_words_are_whole_words_of_the_prompt_clip_first():
    prompt = "a fox " * 20 + "and a Zebra"
    clip, t5 = COUNTER.dropped(prompt, 77)
    assert clip == DroppedWords("CLIP", 77, "fox a fox and a Zebra")  # cut inside "fox": the whole word
    assert t5.encoder == "T5" and t5.text.endswith("and a Zebra") and t5.words == 5
    assert str(clip) == "CLIP reads 77 tokens and ignored: fox a fox and a Zebra"
    assert COUNTER.dropped("a short prompt", 77) == []


def test_the_words_kept_are_the_longest_run_that_fits_whatever_the_punctuation():
    prompt = "Masterpiece, (a red fox:1.2), snow; golden-hour light! " * 6
    words = prompt.split()
    (clip,) = [dropped for dropped in COUNTER.dropped(prompt, 256) if dropped.encoder == "CLIP"]
    kept = words[: len(words) - clip.words]
    assert " ".join(kept + clip.text.split()) == " ".join(words)
    one_more = words[: len(kept) + 1]
    assert COUNTER.count(" ".join(kept), 256).clip <= 77 < COUNTER.count(" ".join(one_more), 256).clip
