"""toposhape: shaping the topology of learned representations.

The library behind the toposhape book. Importing it loads the compiled kernels
(``toposhape._C``); see :mod:`toposhape.pershom` for 0-dimensional persistence
and :mod:`toposhape.losses` for the connectivity loss.
"""

from toposhape.losses import connectivity_loss
from toposhape.pershom import death_edges, vr_persistence0

__all__ = ["connectivity_loss", "death_edges", "vr_persistence0"]
__version__ = "0.1.0"
