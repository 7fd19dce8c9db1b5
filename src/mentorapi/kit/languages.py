"""Languages as BCP 47 tags, normalised (`EN-us` -> `en-US`)."""

import langcodes

# The shape of every tag `normalize_language` accepts (subtags of 1-8 letters and digits, the
# first letters only; `_` is read as `-`): documented in the schema so a client can check a
# tag before sending it. langcodes decides which tags exist; a test holds the two together.
LANGUAGE_TAG_PATTERN = r"^[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*$"


def normalize_language(tag: str) -> str:
    if not tag or len(tag) > 35 or not langcodes.tag_is_valid(tag):
        raise ValueError(f"{tag!r} is not a BCP 47 language tag (e.g. 'en', 'pt-BR')")
    return str(langcodes.standardize_tag(tag))
