"""The compiled parts of marketcast; everything else is in pyproject.toml.

models/_lstm_kernel.c and models/_cnn_lstm_kernel.c are the CPU training kernels of the VIX
paper's LSTM and of the Stock-X CNN-LSTM; models/_nnet_kernel.c runs NNAR's networks;
models/_ddewma_kernel.c computes DD-EWMA's window statistics and smoothing, models/_garch_kernel.c
GARCH's log-likelihood and gradient (RISK_KERNELS: built
without fused multiply-adds, so that they give the bits of their NumPy fallbacks). They are
optional: without a C compiler the install still succeeds, the networks train through autograd
and torch.optim, and NNAR through NumPy. Each flag below is passed only where the compiler takes
it (a tiny file is compiled to ask), so a compiler without OpenMP (Apple's clang, clang without
libomp) still builds the kernels, single-threaded. ``CC=clang CFLAGS=-DMARKETCAST_GENERIC_KERNELS``
builds the portable branch of ``_kernel_common.h`` that non-gcc and non-x86-64 compilers take.
"""

import os
import sys
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNELS = ("_lstm_kernel", "_cnn_lstm_kernel", "_nnet_kernel")
RISK_KERNELS = ("_ddewma_kernel", "_garch_kernel")
NO_CONTRACT = ["-ffp-contract=off"]
OPTIMISE = ["-O3", "-fno-trapping-math", "-fno-math-errno"]
OPENMP_PROBE = (
    "#include <omp.h>\nint main(void) { int n = 0;\n#pragma omp parallel reduction(+:n)\n n++;\n return n < 1; }\n"
)


def _compiles(compiler, source: str, compile_args: list[str], link_args: list[str]) -> bool:
    """Whether ``compiler`` compiles and links ``source`` with these arguments (its output hidden)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "probe.c")
        with open(path, "w") as f:
            f.write(source)
        devnull = os.open(os.devnull, os.O_WRONLY)
        saved = os.dup(2), os.dup(1)
        try:
            os.dup2(devnull, 2), os.dup2(devnull, 1)
            objects = compiler.compile([path], output_dir=tmp, extra_postargs=compile_args)
            compiler.link_executable(objects, os.path.join(tmp, "probe"), extra_postargs=link_args)
            return True
        except Exception:  # CompileError, LinkError: the flag is not taken here
            return False
        finally:
            os.dup2(saved[0], 2), os.dup2(saved[1], 1)
            os.close(devnull), os.close(saved[0]), os.close(saved[1])


class BuildKernels(build_ext):
    """build_ext that keeps only the optimisation and OpenMP flags the compiler takes."""

    def build_extensions(self):
        compile_args, link_args = [], []
        if self.compiler.compiler_type != "msvc":
            compile_args = [
                flag for flag in OPTIMISE if _compiles(self.compiler, "int main(void){return 0;}\n", [flag], [])
            ]
            candidates = [(["-fopenmp"], ["-fopenmp"])]
            if sys.platform == "darwin":  # Apple's clang with Homebrew's libomp
                candidates.append((["-Xpreprocessor", "-fopenmp"], ["-lomp"]))
            for cflags, lflags in candidates:
                if _compiles(self.compiler, OPENMP_PROBE, cflags, lflags):
                    compile_args, link_args = compile_args + cflags, lflags
                    break
            else:
                print(
                    "marketcast: the C compiler takes no OpenMP; the kernels are built single-threaded", file=sys.stderr
                )
        strict = [flag for flag in NO_CONTRACT if self.compiler.compiler_type != "msvc"
                  and _compiles(self.compiler, "int main(void){return 0;}\n", [flag], [])]
        for ext in self.extensions:
            ext.extra_compile_args, ext.extra_link_args = compile_args, link_args
            if ext.name.rsplit(".", 1)[-1] in RISK_KERNELS:
                ext.extra_compile_args = compile_args + strict
        super().build_extensions()


setup(
    ext_modules=[
        Extension(
            f"marketcast.models.{name}",
            sources=[f"src/marketcast/models/{name}.c"],
            depends=["src/marketcast/models/_kernel_common.h"],
            optional=os.environ.get("MARKETCAST_REQUIRE_KERNELS", "") != "1",
        )
        for name in KERNELS + RISK_KERNELS
    ],
    cmdclass={"build_ext": BuildKernels},
)
