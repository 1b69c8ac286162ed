"""Max-pooled grids of a layer's heads built from blocks of query rows as they arrive (in torch,
on the blocks' device): cell (i, j) of a grid of factor f is the largest weight of rows
[i f, (i + 1) f) x keys [j f, (j + 1) f), so nothing strong disappears when zoomed out
(docs/format.md, "Overview levels")."""

import warnings

import torch


def grid_shape(queries, keys, factor):
    return -(-queries // factor), -(-keys // factor)


class MaxGrid:
    """One max-pooled grid per head of a layer, `[heads, rows, cols]` float32, filled block by block."""

    def __init__(self, heads, queries, keys, factor, device):
        self.factor = factor
        rows, cols = grid_shape(queries, keys, factor)
        self.values = torch.zeros(heads, rows, cols, dtype=torch.float32, device=device)

    def add(self, head_start, row_start, weights, key_start=0):
        """Take a block `[heads, rows, width]` (any float dtype): rows from `row_start`, keys
        [key_start, key_start + width) (the others hold 0 and change no maximum)."""
        f = self.factor
        x = weights.float()
        heads, rows, width = x.shape
        if width == 0:
            return
        lead = key_start % f  # align the block's keys to the grid's cells
        if f > 1:
            if lead:
                x = torch.nn.functional.pad(x, (lead, 0))
            x = torch.nn.functional.max_pool1d(x.reshape(heads * rows, 1, x.shape[-1]), f, f, ceil_mode=True)
            x = x.reshape(heads, rows, -1)
        c0 = key_start // f
        cells = torch.arange(row_start, row_start + rows, device=x.device) // f
        target = self.values[head_start : head_start + heads, :, c0 : c0 + x.shape[-1]]
        with warnings.catch_warnings():  # "index_reduce() is in beta": it does what we need
            warnings.simplefilter("ignore", UserWarning)
            target.index_reduce_(1, cells, x, "amax", include_self=True)


def coarser(grid, ratio):
    """A grid `[heads, rows, cols]` max-pooled by `ratio` (a coarser level of the same head)."""
    if ratio == 1:
        return grid
    return torch.nn.functional.max_pool2d(grid[None], ratio, ratio, ceil_mode=True)[0]


def factor_for(length, cells):
    """The smallest power of two f with ceil(length / f) <= cells."""
    f = 1
    while -(-length // f) > cells:
        f *= 2
    return f
