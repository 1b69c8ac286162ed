"""Routing one model's attention calls through an implementation of tb-attention's own, for the
duration of a `with` block: the capture (session.py: the weights, block by block) and the head
gates (gates.py: each head's output times a gate) are both routers.

One name is registered in transformers' `AttentionInterface` (with its mask function, which
describes the mask instead of building it: masks.py); while a router is active in a thread, every
attention call of the model goes to its `attend`. The model's implementation (and every
sub-config's) is switched to that name on entry and put back on exit, also after an error. Each
layer's output comes from the implementation the model had, with the mask it would have built
(`kernel_output`), so the forward result is bit for bit the same.
"""

import sys
import threading

from tb_attention.capture.masks import describe_mask

NAME = "tb_attention_capture"
# Mask element sizes by implementation, to tell when the model's own mask would be too large.
MASK_ELEMENT_BYTES = {"sdpa": 1, "eager": 4}
KINDS = ("self", "encoder", "decoder", "cross")  # the order of a router's rows
_active = threading.local()
_registered = False
_register_lock = threading.Lock()


def register():
    """Register the routed attention and mask functions with transformers (once)."""
    global _registered
    with _register_lock:
        if _registered:
            return
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface

        AttentionInterface.register(NAME, routed_attention)
        AttentionMaskInterface.register(NAME, describe_mask)
        _registered = True


def active():
    """The router active in this thread, or None."""
    return getattr(_active, "router", None)


def routed_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """The attention function registered as NAME (transformers' interface signature)."""
    router = active()
    if router is None:
        raise RuntimeError(
            "the %s attention implementation runs only inside tb_attention.capture or a head-importance pass" % NAME
        )
    return router.attend(module, query, key, value, attention_mask, scaling, dropout, kwargs)


def scaling_of(module, query, scaling):
    if scaling is not None:
        return float(scaling)
    head_dim = getattr(module, "head_dim", query.shape[-1])
    return float(head_dim) ** -0.5


class Router:
    """Sends one model's attention calls to `attend` while active (a context manager); numbers
    the attention modules per kind in the order they are first called."""

    def __init__(self, model):
        self.model = model
        self.names = {id(m): name for name, m in model.named_modules()}
        self.seq2seq = bool(getattr(getattr(model, "config", None), "is_encoder_decoder", False))
        self.layers = {}  # id(module) -> (kind, layer)
        self.counts = {}  # kind -> layers seen
        self.previous = {}  # id(config) -> (config, implementation before the router)

    def __enter__(self):
        register()
        if active() is not None:
            raise RuntimeError("tb_attention.capture or a head-importance pass is already active in this thread")
        for module in self.model.modules():
            config = getattr(module, "config", None)
            if config is not None and hasattr(config, "_attn_implementation") and id(config) not in self.previous:
                self.previous[id(config)] = (config, config._attn_implementation)
        self.model.set_attn_implementation(NAME)
        _active.router = self
        return self

    def __exit__(self, *exc):
        _active.router = None
        for config, implementation in self.previous.values():
            config._attn_implementation_internal = implementation

    def attend(self, module, query, key, value, mask, scaling, dropout, kwargs):
        """The layer's output `[batch, q, heads, dv]` and None (the interface's weights slot)."""
        raise NotImplementedError

    def original(self, module):
        """The attention implementation the model had for this module."""
        config = getattr(module, "config", None)
        entry = self.previous.get(id(config))
        if entry is not None:
            return entry[1]
        return next(iter(self.previous.values()))[1] if self.previous else "eager"

    def _kind(self, module):
        if not self.seq2seq:
            return "self"
        name = self.names.get(id(module), "").lower()
        if "cross" in name or "encoder_attn" in name or "encdec" in name:
            return "cross"
        return "encoder" if ".encoder." in "." + name + "." else "decoder"

    def layer_of(self, module):
        """(kind, layer) of an attention module: its order among the modules of its kind."""
        key = id(module)
        if key not in self.layers:
            kind = self._kind(module)
            self.layers[key] = (kind, self.counts.get(kind, 0))
            self.counts[kind] = self.counts.get(kind, 0) + 1
        return self.layers[key]

    def rows(self):
        """Every (kind, layer) seen, kinds in KINDS order, layers ascending."""
        return sorted(self.layers.values(), key=lambda row: (KINDS.index(row[0]), row[1]))

    def kernel_function(self, module):
        """The attention function of the implementation the model had, or None when not found."""
        implementation = self.original(module)
        if implementation == "eager" or implementation is None:
            return getattr(sys.modules.get(type(module).__module__), "eager_attention_forward", None)
        from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

        return ALL_ATTENTION_FUNCTIONS.get_interface(implementation, None)

    def kernel_output(self, module, inputs, dropout, kwargs, mask_limit=True):
        """The layer's output by the implementation the model had, with the mask it would have
        built; None when that mask would be too large (with `mask_limit`) or the implementation's
        function is not found."""
        mask = inputs.mask
        if hasattr(mask, "kernel_mask"):
            usable, mask = mask.kernel_mask(self.original(module), MASK_ELEMENT_BYTES, limit=mask_limit)
            if not usable:
                return None
        function = self.kernel_function(module)
        if function is None:
            return None
        output, _ = function(
            module, inputs.query, inputs.key, inputs.value, mask, scaling=inputs.scaling, dropout=dropout, **kwargs
        )
        return output
