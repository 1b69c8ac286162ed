"""One probe forward pass that leaves the model, its kernels and the RNG exactly as they were."""

import torch

_EAGER = "eager"


def _device(model):
    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return device
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


class _EagerAttention:
    """Switch a model to eager attention for one forward pass (SDPA and flash kernels never
    materialise the weights), then back, so training keeps its own kernel."""

    def __init__(self, model):
        self.model = model
        self.previous = getattr(getattr(model, "config", None), "_attn_implementation", None)
        self.switched = False

    def __enter__(self):
        if self.previous not in (None, _EAGER) and hasattr(self.model, "set_attn_implementation"):
            self.model.set_attn_implementation(_EAGER)
            self.switched = True
        return self

    def __exit__(self, *exc):
        if self.switched and self.model.config._attn_implementation != self.previous:
            self.model.set_attn_implementation(self.previous)


class _EvalMode:
    """Eval mode for the duration, then every module's own train/eval flag back as it was."""

    def __init__(self, model):
        self.modes = [(module, module.training) for module in model.modules()]
        self.model = model

    def __enter__(self):
        self.model.eval()
        return self

    def __exit__(self, *exc):
        for module, training in self.modes:
            module.training = training


def probe_attention(model, encoding):
    """`outputs.attentions` (per layer, on CPU) of one tokenised probe, leaving `model` as it was."""
    config = getattr(model, "config", None)
    if getattr(config, "is_encoder_decoder", False):
        raise ValueError(
            "AttentionCallback runs encoder or decoder-only models; %s is an encoder-decoder: log "
            "its attention with tb_attention.add_attention(..., key_tokens=...) instead"
            % type(model).__name__
        )
    device = _device(model)
    inputs = {name: tensor.to(device) for name, tensor in encoding.items()}
    # Save/restore only the generators this forward could touch: forking touches each device.
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices), torch.no_grad(), _EvalMode(model), _EagerAttention(model):
        outputs = model(**inputs, output_attentions=True)
        attentions = getattr(outputs, "attentions", None)
        if not attentions or any(layer is None for layer in attentions):
            raise ValueError(
                "%s returned no attention weights with output_attentions=True (attention "
                "implementation %r computes none): load the model with "
                'attn_implementation="eager"'
                % (type(model).__name__, getattr(config, "_attn_implementation", None))
            )
        return tuple(layer.detach().to("cpu") for layer in attentions)
