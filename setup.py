"""The compiled parts of marketcast; everything else is in pyproject.toml.

models/_lstm_kernel.c and models/_cnn_lstm_kernel.c are the CPU training kernels of the VIX
paper's LSTM and of the Stock-X CNN-LSTM; models/_nnet_kernel.c runs NNAR's networks. They are
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
)
