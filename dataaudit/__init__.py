"""dataaudit: audit the data of language-model training runs."""

__version__ = "0.1.0"
