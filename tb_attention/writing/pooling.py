"""Max-pooled grids of a layer's heads built from blocks of query rows as they arrive (in torch,
on the blocks' device): cell (i, j) of a grid of factor f is the largest weight of rows
[i f, (i + 1) f) x keys [j f, (j + 1) f), so nothing strong disappears when zoomed out
(docs/format.md, "Overview levels")."""

import torch


def grid_shape(queries, keys, factor):
    return -(-queries // factor), -(-keys // factor)


class MaxGrid:
    """One max-pooled grid per head of a layer, `[heads, rows, cols]` float32, filled block by block."""

    def __init__(self, heads, queries, keys, factor, device):
        self.factor = factor
        rows, cols = grid_shape(queries, keys, factor)
        self.values = torch.zeros(heads, rows, cols, dtype=torch.float32, device=device)

    def add(self, head_start, row_start, weights):
        """Take a block `[heads, rows, keys]` (any float dtype) of rows from `row_start`."""
        f = self.factor
        x = weights.float()
        heads, rows, keys = x.shape
        if f > 1:
            x = torch.nn.functional.max_pool1d(x.reshape(heads * rows, 1, keys), f, f, ceil_mode=True)
            x = x.reshape(heads, rows, -1)
        cells = torch.arange(row_start, row_start + rows, device=x.device) // f
        target = self.values[head_start : head_start + heads]
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
