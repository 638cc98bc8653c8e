"""Code that runs inside modelsync's workload containers.

The chart mounts a config file and starts one of two programs: ``modelsync-launch`` turns
the launcher config into a vLLM OpenAI server command line and execs it, and
``modelsync-train`` fine-tunes a model with PEFT from KAITO's training config. Both exit
with code 2 and a one-line reason when their configuration is wrong.
"""

__all__ = ["EXIT_CONFIG_ERROR"]

EXIT_CONFIG_ERROR = 2
