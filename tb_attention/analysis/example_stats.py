"""Head-pattern scores over a set of examples: per head and metric the mean, the spread (sample
standard deviation) and a confidence interval of the mean (Student's t), over the examples for
which the metric is defined (docs/patterns.md, "Scores over a set of examples").

Clark et al. 2019 average their head scores over 1 000 segments, the induction and sink
detectors over batches of sequences: one probe can make a head look like what it is not.
"""

import numpy as np

LEVEL = 0.95  # the confidence interval's coverage


class ExampleStats:
    """Adds up each example's scores (metric -> `[layers, heads]`, NaN where undefined) with
    Welford's update, in float64; `result()` gives the mean and the summary a record stores."""

    def __init__(self):
        self.examples = 0
        self.count, self.mean, self.m2 = {}, {}, {}

    def add(self, scores):
        shape = None
        for name, values in scores.items():
            values = np.asarray(values, dtype=np.float64)
            if values.ndim != 2 or (shape is not None and values.shape != shape):
                raise ValueError("example scores must be [layers, heads] alike, %r is %s" % (name, values.shape))
            shape = values.shape
            if name not in self.count:
                self.count[name] = np.zeros(values.shape, np.int64)
                self.mean[name], self.m2[name] = np.zeros(values.shape), np.zeros(values.shape)
            elif self.count[name].shape != values.shape:
                raise ValueError("example scores of shape %s after %s" % (values.shape, self.count[name].shape))
            defined = np.isfinite(values)
            count = self.count[name] + defined
            delta = np.where(defined, values - self.mean[name], 0.0)
            self.mean[name] += delta / np.maximum(count, 1)
            self.m2[name] += delta * np.where(defined, values - self.mean[name], 0.0)
            self.count[name] = count
        self.examples += 1

    def result(self, level=LEVEL):
        """(mean, summary): mean = metric -> float32 `[layers, heads]` (NaN where no example
        defines it); summary = {"examples": N, "level", "count", "std", "half"}: per metric the
        examples that define it, the sample standard deviation (NaN below 2) and the half width
        of the `level` interval of the mean, t_{(1+level)/2, n-1} std / sqrt(n)."""
        if not self.examples:
            raise ValueError("no example was scored")
        from scipy import stats  # imported where examples are scored only

        mean, summary = {}, {"examples": self.examples, "level": float(level), "count": {}, "std": {}, "half": {}}
        for name, count in self.count.items():
            mean[name] = np.where(count > 0, self.mean[name], np.nan).astype(np.float32)
            with np.errstate(invalid="ignore", divide="ignore"):
                std = np.where(count > 1, np.sqrt(self.m2[name] / np.maximum(count - 1, 1)), np.nan)
                quantile = stats.t.ppf((1 + level) / 2, np.maximum(count - 1, 1))
                half = np.where(count > 1, quantile * std / np.sqrt(np.maximum(count, 1)), np.nan)
            summary["count"][name], summary["std"][name], summary["half"][name] = count, std, half
        return mean, summary


def bands(mean, summary):
    """{metric: (low, high)} float64 `[layers, heads]`: the interval around each mean score
    (NaN where it has fewer than 2 examples)."""
    out = {}
    for name, half in summary["half"].items():
        values = mean.get(name)
        if values is not None:
            values = np.asarray(values, dtype=np.float64)
            out[name] = (values - half, values + half)
    return out
