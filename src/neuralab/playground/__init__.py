"""The playground: the lecture's experiment live in the browser.

A local web app (Starlette + uvicorn) whose page trains neuralab's own engine
(or its PyTorch twin) through neuralab's one training loop and shows the decision
boundary, the loss curves, the confusion matrix and the first hidden layer's
units as it learns. :func:`create_app` builds the ASGI app, :func:`serve` runs it
on this machine; :mod:`neuralab.playground.codegen` writes the current
experiment as a PyTorch or NumPy script.
"""

from neuralab.playground.server import create_app, serve

__all__ = ["create_app", "serve"]
