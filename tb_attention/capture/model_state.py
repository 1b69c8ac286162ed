"""Running a user's model without changing it: its device, its modules' train/eval flags and the
RNG state are put back after a pass; whether its forward is a collective (a sharded model);
whether it is on transformers' attention interface. Shared by the probe pass and the head-
importance pass."""

import contextlib
import inspect

import torch


def device_of(model):
    """The model's device (its first parameter's; the CPU for a model without parameters)."""
    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return device
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


class EvalMode:
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


def untouched(model, device, grad=False):
    """The context of every pass of ours through a training model: eval mode, gradients off
    (on with `grad`: the importance pass asks for its own gates' gradients only), the RNG of the
    CPU and of the model's CUDA device saved and restored (forking touches each device)."""
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    stack = contextlib.ExitStack()
    stack.enter_context(torch.random.fork_rng(devices=devices))
    stack.enter_context(torch.enable_grad() if grad else torch.no_grad())
    stack.enter_context(EvalMode(model))
    return stack


def needs_every_rank(model):
    """Whether a forward pass of `model` is a collective that every rank must run together.

    Detected: FSDP (`FullyShardedDataParallel` modules), FSDP2 (`fully_shard`: `FSDPModule`
    modules, DTensor parameters), tensor / sequence parallel (DTensor parameters) and DeepSpeed
    ZeRO-3 (partitioned parameters carry `ds_id`). DDP and single-process models run alone."""
    fsdp_types = []
    try:
        from torch.distributed.fsdp import FullyShardedDataParallel

        fsdp_types.append(FullyShardedDataParallel)
        from torch.distributed.fsdp import FSDPModule

        fsdp_types.append(FSDPModule)
    except ImportError:  # a torch without FSDP or FSDP2
        pass
    try:
        from torch.distributed.tensor import DTensor
    except ImportError:
        DTensor = ()
    if fsdp_types and any(isinstance(m, tuple(fsdp_types)) for m in model.modules()):
        return True
    return any(isinstance(p, DTensor) or hasattr(p, "ds_id") for p in model.parameters())


def base_model(model):
    """A PEFT wrapper's base model, else the model."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def accepts(model, name):
    """Whether the model's forward takes keyword `name` (a PEFT wrapper's base model is asked)."""
    try:
        return name in inspect.signature(base_model(model).forward).parameters
    except (TypeError, ValueError):
        return False


def on_attention_interface(model):
    """Whether the model computes attention through transformers' AttentionInterface (then the
    capture and the head gates serve it; otherwise eager `output_attentions`)."""
    base = base_model(model)
    can_set = getattr(type(base), "_can_set_attn_implementation", None)
    return bool(can_set is not None and getattr(base, "config", None) is not None and can_set())
