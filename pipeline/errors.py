"""The project's exceptions. Raise them with ``from e`` when wrapping a lower-level error."""


class StreamscribeError(Exception):
    """Base of every error streamscribe raises on purpose."""


class ConfigError(StreamscribeError):
    """An invalid configuration key, type or value; the message names the key, value and what is allowed."""


class RingError(StreamscribeError):
    """A shared-memory ring could not be created, attached or used."""


class RingOverrun(RingError):
    """The requested audio is no longer in the ring: the writer has overwritten it."""

    def __init__(self, start_index: int, oldest_index: int, write_index: int) -> None:
        super().__init__(
            f"audio [{start_index}, ...) is gone: the ring now holds "
            f"[{oldest_index}, {write_index})"
        )
        self.start_index = start_index
        self.oldest_index = oldest_index
        self.write_index = write_index


class MessageError(StreamscribeError):
    """A frame that is not a valid message: garbage, oversize, unknown kind or wrong field types."""


class BackendError(StreamscribeError):
    """An inference backend failed to load or to transcribe."""


class ModelError(StreamscribeError):
    """A model could not be found, converted or loaded."""


class AudioSourceError(StreamscribeError):
    """An audio source (file, stdin, microphone) could not be opened or read."""


class BusError(StreamscribeError):
    """A socket, endpoint, runtime directory or CURVE key problem on the message bus."""
