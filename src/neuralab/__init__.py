"""neuralab: a neural-network lab that runs, shows and checks how networks learn.

The NumPy engine (:mod:`neuralab.nn`) writes every forward and backward pass by
hand in the lecture's notation; :mod:`neuralab.train` trains it; the command line
(``neuralab``) runs the lecture's experiment and writes run directories.
"""

import sys

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


def lazy_exports(package: str, exports: dict[str, tuple[str, ...]]):
    """``__getattr__`` and ``__dir__`` (PEP 562) for a package whose names load on first use.

    ``exports`` maps each submodule of ``package`` to the public names it defines, as
    the ``from package.submodule import ...`` lines would list them. Importing the
    package, or one of its submodules, then loads only what is used: ``neuralab --help``,
    ``datasets`` and ``predict`` start without the rest. A name not listed raises
    AttributeError, as for any module.
    """
    import importlib

    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str):
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # the next lookup finds it directly
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__


__all__ = ["ArgumentError", "NeuralabError", "__version__"]
