"""Head importance (Michel et al. 2019, "Are Sixteen Heads Really Better than One?"): the expected
absolute derivative of the loss with respect to a gate on each head's output, measured over a
few batches for any model on transformers' attention interface (capture/gates.py), an ablation
check that confirms it by an intervention, and a small record per step to log it
(docs/importance.md).

    importance = tb_attention.head_importance(model, eval_batches)        # float32 [layers, heads]
    tb_attention.add_importance(writer, "importance", importance, step)

`measure.py` runs the gradient pass, `ablation.py` the ablation check, `batches.py` a batch's
loss, `result.py` holds what a pass measured (no torch), `log.py` writes it, `schedule.py` is
what the training callbacks run at each logged step.
"""
