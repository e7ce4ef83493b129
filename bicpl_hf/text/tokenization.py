"""A character-level BERT tokenizer built from a corpus, for offline runs with no pretrained Chinese vocabulary.

Chinese BERTs (bert-base-chinese, the medical BERTs built on it) tokenise Chinese by character, so a vocabulary of
the corpus's characters is the same tokenisation restricted to the characters that occur. Real use loads the
checkpoint's own tokenizer instead (`AutoTokenizer.from_pretrained(path)`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from transformers import BertTokenizerFast

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_char_tokenizer(texts: Iterable[str], directory: str | os.PathLike) -> BertTokenizerFast:
    """Write `vocab.txt` with every non-space character of `texts` (plus BERT's special tokens) and load it.

    Latin letters and digits are lower-cased like BERT's uncased basic tokenizer does.
    """
    chars = sorted({ch.lower() for text in texts for ch in text if not ch.isspace()})
    # Latin words (CT, MRI, T1) are split into WordPiece continuations: keep "##x" for every ASCII letter/digit.
    pieces = chars + [f"##{c}" for c in chars if c.isascii() and c.isalnum()]
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "vocab.txt")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(SPECIAL_TOKENS + pieces) + "\n")
    tokenizer = BertTokenizerFast(vocab=path, do_lower_case=True)
    if tokenizer.vocab_size != len(SPECIAL_TOKENS) + len(pieces):
        raise RuntimeError(f"tokenizer built from {path} has an unexpected vocabulary size {tokenizer.vocab_size}")
    return tokenizer


__all__ = ["build_char_tokenizer"]
