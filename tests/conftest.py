import os
from pathlib import Path

import pytest
import torch

# Two cores on CI: keep torch from oversubscribing them when tests start worker processes.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (tests that read real data need ../shared/data)")
    return SHARED_DATA
