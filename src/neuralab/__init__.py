"""neuralab: a neural-network lab that runs, shows and checks how networks learn.

The NumPy engine (:mod:`neuralab.nn`) writes every forward and backward pass by
hand in the lecture's notation; :mod:`neuralab.train` trains it; the command line
(``neuralab``) runs the lecture's experiment and writes run directories.
"""

__version__ = "0.1.0"


class NeuralabError(ValueError):
    """A user error: a bad setting, a missing file or malformed data.

    The message is one line that names the argument, the value received and what
    is allowed; the command line prints it and exits with status 2.
    """


class ArgumentError(NeuralabError):
    """A user error about one argument: ``argument`` names it as the Python API does.

    The message starts with that name, so that the command line can show its own
    flag instead (``out`` becomes ``--out``); library code never names a flag.
    ``hint`` names another argument the message advises to ``set``, which the
    command line likewise shows as its flag.
    """

    def __init__(self, argument: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument
        self.hint = hint


__all__ = ["ArgumentError", "NeuralabError", "__version__"]
