"""The one compiled part of marketcast; everything else is in pyproject.toml.

models/_lstm_kernel.c is the LSTM's CPU training kernel. It is optional: without a C compiler
or OpenMP the install still succeeds and the LSTM trains through torch.nn.LSTM instead.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "marketcast.models._lstm_kernel",
            sources=["src/marketcast/models/_lstm_kernel.c"],
            extra_compile_args=["-O3", "-fno-trapping-math", "-fno-math-errno", "-fopenmp"],
            extra_link_args=["-fopenmp"],
            optional=True,
        )
    ]
)
