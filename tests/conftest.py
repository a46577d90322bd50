"""Shared fixtures: where the real data sets are, and no network for anyone."""

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGED_DATA_DIR = REPO_ROOT / "benchmarks" / "data"  # clinc150/ and banking77/, gzipped: a fresh clone has them

# The project is not installed into the venv: make `import benchmarks` work from any cwd.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

# No test may reach the hub. huggingface_hub and datasets read these flags when first
# imported, so they are set here, before any test module imports them.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder holding clinc150/ and banking77/: $CLBENCH_DATA_DIR, else the copies packaged in the suite.

    Missing data is a broken checkout, not a reason to skip: fail loudly.
    """
    path = Path(os.environ.get("CLBENCH_DATA_DIR") or PACKAGED_DATA_DIR)
    missing = [f"{name}/" for name in ("clinc150", "banking77") if not (path / name).is_dir()]
    if missing:
        pytest.fail(
            f"data directory {path} lacks {', '.join(missing)}: set CLBENCH_DATA_DIR to a folder holding "
            "them, or unset it to use the copies packaged in benchmarks/data/",
            pytrace=False,
        )
    return path
