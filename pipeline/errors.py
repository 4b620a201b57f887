"""The errors the engine raises. Each message says what went wrong and how to fix it."""


class TurboStudioError(Exception):
    """Base class: an error whose message is meant to be shown to the user as it is."""


class RequestError(TurboStudioError, ValueError):
    """A request field is out of bounds or of the wrong type."""


class ModelLoadError(TurboStudioError):
    """The pipeline could not be loaded; the message names the remedy."""


class GenerationError(TurboStudioError):
    """A generation failed (out of memory, non-finite values); the engine stays usable."""


class GenerationCancelled(TurboStudioError):
    """The caller stopped the generation before it finished."""
