"""Loading of the compiled kernels and their fake (meta) implementations.

Importing ``toposhape._C`` registers the ``torch.ops.toposhape`` operators
(C++ CPU kernels, and CUDA kernels when the extension was built with them).
The fake implementations registered here give the output shapes without
running a kernel, so the ops work under ``torch.compile`` and ``opcheck``.
"""

import torch

try:
    from toposhape import _C  # noqa: F401  (registers torch.ops.toposhape.*)
except ImportError as err:  # pragma: no cover - only without a build
    raise ImportError(
        "toposhape's compiled kernels (toposhape._C) are not built. From the repository "
        "root run `make setup`, or `pip install -e . --no-build-isolation`."
    ) from err


@torch.library.register_fake("toposhape::mst_edges")
def _mst_edges_fake(dist: torch.Tensor) -> torch.Tensor:
    torch._check(dist.dim() == 3, lambda: "mst_edges: dist must have shape (B, n, n)")
    torch._check(dist.shape[1] == dist.shape[2], lambda: "mst_edges: dist must be square")
    return dist.new_empty((dist.shape[0], dist.shape[1] - 1, 2), dtype=torch.long)


# Which device types the build has kernels for, read once (a plain dict, so that
# torch.compile can trace the checks that consult it).
_KERNELS = {
    device: torch._C._dispatch_has_kernel_for_dispatch_key("toposhape::mst_edges", key)
    for device, key in (("cpu", "CPU"), ("cuda", "CUDA"))
}


def has_kernel(device_type: str) -> bool:
    """Whether ``torch.ops.toposhape.mst_edges`` has a kernel for ``device_type``.

    Parameters
    ----------
    device_type : str
        A torch device type such as ``"cpu"`` or ``"cuda"``.
    """
    return _KERNELS.get(device_type, False)


mst_edges = torch.ops.toposhape.mst_edges
