"""The package's root error, and the one raised for a wrong configuration.

Catch ``PipelineError`` for anything the pipeline raises on purpose; the VOD client's errors
(``pipeline.vod.errors``) are a branch of it.
"""


class PipelineError(Exception):
    """Anything the pipeline raises on purpose, with words a person can act on."""


class ConfigurationError(PipelineError, ValueError):
    """The pipeline was configured wrongly; raised before the first call, saying what to fix."""
