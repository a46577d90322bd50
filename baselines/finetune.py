"""Fine-tuning: the strategy's plain loop, task after task, with no defence against forgetting (the lower bound)."""

from methods.declare import Method

METHOD = Method(name="finetune", order=0, summary="fine-tuning, CE(new) only")
