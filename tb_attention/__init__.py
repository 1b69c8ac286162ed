"""tb-attention: log Transformer attention to TensorBoard and explore it in an Attention panel.

    import tb_attention
    tb_attention.add_attention(writer, "probe/store", outputs.attentions, tokens, global_step=step)

Importing this package imports neither torch nor transformers.

Layout, lowest layer first (each imports only from layers below it; tests/test_structure.py):
`format/` is the record format both ends share; `inputs/` checks what users pass; `writing/`
writes records and `storage/` reads them; `analysis/` holds the head-pattern metrics; on top,
`log.py` (`add_attention`: writing with scores), `reader.py` (`read_attention`), `integrations/`
(the training-framework callbacks) and `serving/` (the TensorBoard plugin and its routes). The
panel lives in the repository's `frontend/` and ships inside the package.
"""

__version__ = "0.1.0"

_EXPORTS = {
    "add_attention": "tb_attention.log",
    "flush": "tb_attention.log",
    "close": "tb_attention.log",
    "AttentionWriteError": "tb_attention.writing.failures",
    "read_attention": "tb_attention.reader",
    "AttentionRecord": "tb_attention.reader",
    "read_importance": "tb_attention.reader",
    "ImportanceRecord": "tb_attention.reader",
    "head_importance": "tb_attention.importance.measure",
    "measure_importance": "tb_attention.importance.measure",
    "add_importance": "tb_attention.importance.log",
    "head_patterns": "tb_attention.analysis.scoring",
    "label_heads": "tb_attention.analysis.labels",
    "attention_rollout": "tb_attention.analysis.rollout",
    "attention_flow": "tb_attention.analysis.flow",
    "formed_heads": "tb_attention.analysis.formed",
    "induction_probe": "tb_attention.analysis.induction_probe",
    "needle_probe": "tb_attention.analysis.needle_probe",
    "needle_tokens": "tb_attention.analysis.needle_probe",
    "AttentionCallback": "tb_attention.integrations.trainer",
    "ProbeLogger": "tb_attention.integrations.probe_logger",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    # Lazy: `import tb_attention` stays cheap, and the callback's transformers import happens
    # only when a user asks for it.
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError("module 'tb_attention' has no attribute %r" % name)
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
