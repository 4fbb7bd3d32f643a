"""glibc's heap, tuned for a server whose threads and processes draw grids. Both calls are no-ops where
there is no glibc."""

from __future__ import annotations

import ctypes


def share_the_heap_between_threads(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas (by default up to 8 per core). Every thread that draws grids (Gradio's
    worker threads, the tile threads) fragments its own arena with the grids' arrays and strings, and
    a fragmented arena is never given back: the server's memory crept ~50 MB a round of bench/load.py."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def return_freed_memory() -> None:
    """Hand freed heap back to the system. glibc keeps what many worker threads freed in their arenas:
    after a class, the server's RSS stayed ~700 MB above its start though every picture had been
    dropped (bench/load.py)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
