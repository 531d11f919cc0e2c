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


__all__ = ["NeuralabError", "__version__"]
