"""Languages as BCP 47 tags, normalised (`EN-us` -> `en-US`)."""

import langcodes


def normalize_language(tag: str) -> str:
    if not tag or len(tag) > 35 or not langcodes.tag_is_valid(tag):
        raise ValueError(f"{tag!r} is not a BCP 47 language tag (e.g. 'en', 'pt-BR')")
    return str(langcodes.standardize_tag(tag))
