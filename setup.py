"""Build the compiled kernels of toposhape (``toposhape._C``).

The C++ CPU kernels are always built. The CUDA kernels are added when the
installed torch is a CUDA build and a CUDA toolkit is found (``CUDA_HOME``);
set ``TOPOSHAPE_NO_CUDA=1`` to force a CPU-only build. No GPU is needed to
compile them.
"""

import os

import torch
from setuptools import setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

CXX_FLAGS = ["-O3", "-fopenmp"]
LINK_FLAGS = ["-fopenmp"]


def extension():
    """The ``toposhape._C`` extension, with CUDA kernels when they can be built."""
    sources = ["cuda_ext/pershom0.cpp"]
    want_cuda = os.environ.get("TOPOSHAPE_NO_CUDA", "0") != "1"
    if want_cuda and torch.version.cuda is not None and CUDA_HOME is not None:
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "8.0;9.0+PTX")
        return CUDAExtension(
            "toposhape._C",
            [*sources, "cuda_ext/pershom0_cuda.cu"],
            extra_compile_args={"cxx": CXX_FLAGS, "nvcc": ["-O3"]},
            extra_link_args=LINK_FLAGS,
        )
    return CppExtension(
        "toposhape._C", sources, extra_compile_args={"cxx": CXX_FLAGS}, extra_link_args=LINK_FLAGS
    )


setup(ext_modules=[extension()], cmdclass={"build_ext": BuildExtension})
