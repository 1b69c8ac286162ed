"""Which directory holds a run: TensorBoard names runs by their path under `--logdir` ("." for
the logdir itself), or under a named group of `--logdir_spec` ("name/sub"); payload files are
found relative to it."""

from tb_attention.storage.files import exists, join


def _spec_roots(logdir_spec):
    """[(group name or None, path)] of a --logdir_spec value, parsed as TensorBoard parses it."""
    try:
        from tensorboard.backend.event_processing.data_ingester import _parse_event_files_spec
    except ImportError:  # a TensorBoard without it: plain comma-separated paths
        return [(None, path) for path in logdir_spec.split(",") if path]
    return [(name, path) for path, name in _parse_event_files_spec(logdir_spec).items()]


class RunDirectories:
    """Run name -> candidate directories, for a `--logdir` or a `--logdir_spec`."""

    def __init__(self, logdir=None, logdir_spec=None):
        if logdir:
            self.roots = [(None, logdir)]
        elif logdir_spec:
            self.roots = _spec_roots(logdir_spec)
        else:
            self.roots = []

    @classmethod
    def from_context(cls, context):
        """From a TBContext: its flags when TensorBoard gives them, else its logdir."""
        flags = getattr(context, "flags", None)
        logdir = getattr(flags, "logdir", None) if flags is not None else None
        spec = getattr(flags, "logdir_spec", None) if flags is not None else None
        if not logdir and not spec:
            logdir = getattr(context, "logdir", None)
        return cls(logdir=logdir, logdir_spec=spec)

    def candidates(self, run):
        out = []
        for name, root in self.roots:
            if name is None:
                out.append(join(root, run))
            elif run == name:
                out.append(root)
            elif run.startswith(name + "/"):
                out.append(join(root, run[len(name) + 1 :]))
        return out

    def find(self, run, relative_file):
        """The directory of `run` holding `relative_file` (the first candidate when none does)."""
        candidates = self.candidates(run)
        if len(candidates) > 1:
            for directory in candidates:
                if exists(join(directory, relative_file)):
                    return directory
        return candidates[0] if candidates else None
