"""Settings of the signals pass: the published default rules of each filter, with their sources."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class GopherQualityRules:
    """Gopher quality rules (Rae et al. 2021, arXiv:2112.11446, section A.1.1), as datatrove applies them."""

    min_words: int = 50                  # paper: "fewer than 50 ... words" (words = non-symbol tokens)
    max_words: int = 100_000             # paper: "more than 100,000 words"
    min_mean_word_length: float = 3.0    # paper: "mean word length is outside the range of 3 to 10 characters"
    max_mean_word_length: float = 10.0   # same rule, upper end
    max_symbol_word_ratio: float = 0.1   # paper: "symbol-to-word ratio greater than 0.1" (hash, ellipsis)
    max_bullet_lines_frac: float = 0.9   # paper: "more than 90% of lines starting with a bullet point"
    max_ellipsis_lines_frac: float = 0.3  # paper: "more than 30% ending with an ellipsis"
    min_alpha_words_frac: float = 0.8    # paper: "80% of words ... contain at least one alphabetic character"
    min_stop_words: int = 2              # paper: "at least two of the following English words"
    stop_words: tuple[str, ...] = ("the", "be", "to", "of", "and", "that", "have", "with")  # paper's list


@dataclass(frozen=True, kw_only=True)
class GopherRepetitionRules:
    """Gopher repetition thresholds, Table A1 of Rae et al. 2021 (datatrove's defaults are the same)."""

    dup_line_frac: float = 0.30          # Table A1: duplicate line fraction
    dup_para_frac: float = 0.30          # Table A1: duplicate paragraph fraction
    dup_line_char_frac: float = 0.20     # Table A1: duplicate line character fraction
    dup_para_char_frac: float = 0.20     # Table A1: duplicate paragraph character fraction
    top_ngram_char_frac: tuple[tuple[int, float], ...] = ((2, 0.20), (3, 0.18), (4, 0.16))  # Table A1
    dup_ngram_char_frac: tuple[tuple[int, float], ...] = (
        (5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))  # Table A1


@dataclass(frozen=True, kw_only=True)
class C4Rules:
    """C4 heuristics (Raffel et al. 2020, section 2.2; TFDS c4_utils.py), datatrove's C4QualityFilter defaults."""

    min_sentences: int = 5               # paper: "discarded any page with fewer than 5 sentences"
    min_words_per_line: int = 3          # paper: "only retained lines that contained at least 3 words"
    max_word_length: int = 1000          # TFDS code: lines holding a word over 1000 characters are dropped
    end_punctuation: tuple[str, ...] = (".", "?", "!", '"', "'")  # paper: "terminal punctuation mark"
    policy_substrings: tuple[str, ...] = (
        "terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies",
    )                                    # TFDS code: boilerplate lines dropped (datatrove's list)


@dataclass(frozen=True, kw_only=True)
class FineWebRules:
    """FineWeb quality filter (Penedo et al. 2024, FineWeb), datatrove's FineWebQualityFilter defaults."""

    min_line_punct_ratio: float = 0.12   # FineWeb: fraction of lines ending in terminal punctuation >= 0.12
    max_short_line_ratio: float = 0.67   # FineWeb: fraction of lines of <= 30 characters <= 0.67
    short_line_length: int = 30          # FineWeb: what a short line is
    max_char_dup_ratio: float = 0.01     # FineWeb: characters in duplicated lines / characters <= 0.01
    max_newline_word_ratio: float = 0.3  # FineWeb: newlines per word <= 0.3 (list-like pages)


@dataclass(frozen=True, kw_only=True)
class ExtraRules:
    """dataaudit's own two rules (not a published filter): junk the four filters can miss inside prose."""

    max_char_run: int = 100              # a run of one character longer than this; prose and rules stay below ~80
    max_encoded_share: float = 0.05      # characters inside base64/hex-like runs over all characters
    min_encoded_run: int = 32            # a base64/hex-like run: this many [A-Za-z0-9+/] with a digit and a letter


@dataclass(frozen=True, kw_only=True)
class SignalsConfig:
    """Settings of the signals pass; every threshold is the source's published default."""

    gopher_quality: GopherQualityRules = field(default_factory=GopherQualityRules)  # Gopher quality filter
    gopher_repetition: GopherRepetitionRules = field(default_factory=GopherRepetitionRules)  # Table A1
    c4: C4Rules = field(default_factory=C4Rules)              # C4 line and page rules
    fineweb: FineWebRules = field(default_factory=FineWebRules)  # FineWeb's three extra rules + list ratio
    extra: ExtraRules = field(default_factory=ExtraRules)     # runs and encoded blobs (flags only)
    char_ngram: int = 10                 # ROOTS character repetition uses 10-grams for English

    def __post_init__(self) -> None:
        if self.char_ngram < 1:
            raise ConfigError(f"char_ngram={self.char_ngram} must be >= 1; the ROOTS default is 10")
        for n, _ in self.gopher_repetition.top_ngram_char_frac + self.gopher_repetition.dup_ngram_char_frac:
            if not 1 <= n <= 16:
                raise ConfigError(f"Gopher repetition n-gram size {n} is outside 1..16; Table A1 uses 2..10")
        if self.extra.min_encoded_run < 8:
            raise ConfigError(f"min_encoded_run={self.extra.min_encoded_run} is too short to mean an encoded "
                              "blob; use 32 (the default) or more")


DEFAULT_SIGNALS = SignalsConfig()
