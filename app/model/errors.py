"""Domain errors of the prediction core. The HTTP edge maps them to status codes."""


class ModelError(Exception):
    """Base class: the model cannot be used."""


class ModelCardError(ModelError):
    """The model card is missing, unreadable or inconsistent."""


class ModelIntegrityError(ModelError):
    """The model file does not match the sha256 recorded in its card."""


class ModelLoadError(ModelError):
    """The model file is not a complete LightGBM text model matching its card."""


class ProfileError(ModelError):
    """The reference profile is missing, unreadable, malformed or does not fit its card."""
