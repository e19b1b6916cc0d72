"""Environment that keeps every library we use offline and silent (no hub, no telemetry).

``import rag`` applies it once, before any of those libraries is imported; values the user
set already win.
"""

from __future__ import annotations

import os
import threading

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "ANONYMIZED_TELEMETRY": "False",
    "GRADIO_ANALYTICS_ENABLED": "False",
}


def set_offline_env() -> None:
    """Make every library we use work without a network and without telemetry."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


# Held while spaCy's import runs with torch blocked (``rag.language.nlp``) and around every import of
# torch itself, so a thread that needs torch (a first ONNX export, the torch backend) never
# meets the block another thread set: a cold ``rag ask`` did, on a machine with no export yet.
TORCH_IMPORT = threading.RLock()
