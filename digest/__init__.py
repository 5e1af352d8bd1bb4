"""digest: a weekly newsletter engine for side-by-side AI tool comparisons.

The public surface is small: the CLI (`digest.cli`), the settings
(`digest.settings.Settings`), the store (`digest.store`) and the error tree
(`digest.errors`). Everything else is an implementation detail.
"""

__version__ = "0.1.0"
