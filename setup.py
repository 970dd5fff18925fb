"""The compiled parts of marketcast; everything else is in pyproject.toml.

models/_lstm_kernel.c and models/_cnn_lstm_kernel.c are the CPU training kernels of the VIX
paper's LSTM and of the Stock-X CNN-LSTM; models/_nnet_kernel.c runs NNAR's networks;
models/_ddewma_kernel.c smooths DD-EWMA's windows. They are
optional: without a C compiler or OpenMP the install still succeeds, the networks train through
autograd and torch.optim, and NNAR through NumPy.
"""

from setuptools import Extension, setup

FLAGS = ["-O3", "-fno-trapping-math", "-fno-math-errno", "-fopenmp"]

setup(
    ext_modules=[
        Extension(
            f"marketcast.models.{name}",
            sources=[f"src/marketcast/models/{name}.c"],
            depends=["src/marketcast/models/_kernel_common.h"],
            extra_compile_args=FLAGS,
            extra_link_args=["-fopenmp"],
            optional=True,
        )
        for name in ("_lstm_kernel", "_cnn_lstm_kernel", "_nnet_kernel")
    ]
    # Risk kernels (DD-EWMA's smoothing, GARCH's likelihood): no OpenMP; no fused multiply-adds,
    # so that they give the bits of their NumPy fallbacks (models/ewma.py, models/_garch_fast.py).
    + [
        Extension(
            f"marketcast.models.{name}",
            sources=[f"src/marketcast/models/{name}.c"],
            extra_compile_args=["-O3", "-ffp-contract=off"],
            optional=True,
        )
        for name in ("_ddewma_kernel",)
    ]
)
