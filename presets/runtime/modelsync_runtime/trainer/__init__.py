"""The PEFT trainer: ``config`` (KAITO sections) -> ``data`` (files to token ids) ->
``train`` (LoRA/QLoRA with transformers' Trainer), driven by ``cli`` (``modelsync-train``).

Only ``train`` and ``data`` import the heavy libraries, and ``cli`` imports them after the
configuration has been validated, so a bad config fails in well under a second.
"""

__all__ = ["CHECKPOINTS", "MARKER"]

# docs/contracts.md section 4: written last, so its presence means the adapter is whole.
MARKER = ".modelsync-complete"
CHECKPOINTS = "checkpoints"
