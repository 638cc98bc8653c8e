"""``modelsync-rag``: the RAG engine container's entry point.

Order matters for the pod log: the config file and variables are checked first (exit 2
and one line when wrong, before torch is imported), then the persist directory (it must
be writable: the chart mounts a volume there for uid 1000), then the embedding model, then
every index persisted on the volume is loaded, and only then does uvicorn listen, so a
readiness probe on ``/health`` passes only once restored indexes answer queries.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from modelsync_runtime.errors import ConfigError, exit_with_config_error
from modelsync_runtime.rag.config import RagConfig, load_rag_config

__all__ = ["main"]

PROGRAM = "modelsync-rag"
DEFAULT_CONFIG = "/etc/modelsync/rag.yaml"


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.split("\n")[0])
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"RAGConfig file (default: {DEFAULT_CONFIG} when it exists; else variables only)",
    )
    parser.add_argument("--host", help="listen address (overrides the config)")
    parser.add_argument("--port", type=int, help="listen port (overrides the config)")
    parser.add_argument(
        "--check", action="store_true", help="validate the configuration, print it, exit"
    )
    return parser.parse_args(argv)


def _prepare_persist_dir(config: RagConfig) -> Path:
    root = Path(config.persist_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"persistDir {root} cannot be created: {e.strerror or e}") from e
    if not os.access(root, os.W_OK | os.X_OK):
        raise ConfigError(f"persistDir {root} is not writable by uid {os.getuid()}")
    return root


def main(argv: Sequence[str] | None = None) -> None:
    args = _arguments(argv)
    path = args.config
    if path is None and Path(DEFAULT_CONFIG).is_file():
        path = Path(DEFAULT_CONFIG)
    try:
        config = load_rag_config(path)
        overrides = {"host": args.host, "port": args.port}
        config = config.model_copy(update={k: v for k, v in overrides.items() if v})
        if args.check:
            print(config.model_dump_json(by_alias=True, indent=2))
            return
        root = _prepare_persist_dir(config)
        # llama-index-core 0.12 declares a field pydantic 2.14 warns about at import; it
        # is LlamaIndex's own model and harmless, and would open every pod log.
        warnings.filterwarnings("ignore", message="The 'validate_default' attribute")
        # The heavy imports (torch, LlamaIndex, FastAPI) wait for a valid configuration.
        import uvicorn  # noqa: PLC0415

        from modelsync_runtime.rag.app import build_app  # noqa: PLC0415
        from modelsync_runtime.rag.embedding import load_embedding  # noqa: PLC0415
        from modelsync_runtime.rag.engine import Engine  # noqa: PLC0415
        from modelsync_runtime.rag.errors import RagError  # noqa: PLC0415
        from modelsync_runtime.rag.generation import Generator  # noqa: PLC0415

        engine = Engine(config, load_embedding(config))
        try:
            loaded = engine.load_all() if config.load_on_start else []
        except RagError as e:
            raise ConfigError(str(e)) from e
    except ConfigError as e:
        exit_with_config_error(PROGRAM, e)
    generator = Generator(config, engine, api_key=os.environ.get("LLM_ACCESS_SECRET", ""))
    print(
        f"{PROGRAM}: {len(loaded)} index(es) loaded from {root} ({', '.join(loaded) or '-'}); "
        f"inference: {config.inference_url or 'none (retrieval only)'}; "
        f"listening on {config.host}:{config.port}",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(build_app(engine, generator), host=config.host, port=config.port)


if __name__ == "__main__":
    main()
