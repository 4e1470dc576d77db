from pathlib import Path

import pytest
import torch

# Two cores on CI, and tests that start worker processes: one torch thread each avoids oversubscription,
# which made tiny-model training 20-50 times slower here.
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (tests that read real data need ../shared/data)")
    return SHARED_DATA
