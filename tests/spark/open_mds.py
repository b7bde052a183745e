"""StreamingDataset over a local dataset, through a fresh local cache."""
import tempfile
import time


def streaming_dataset(remote, batch_size):
    """StreamingDataset(remote=...), unshuffled, hashes validated; retried
    while its shared-memory names race with other processes creating datasets."""
    from streaming import StreamingDataset
    local = tempfile.mkdtemp()
    for attempt in range(20):
        try:
            return StreamingDataset(remote=remote, local=local, shuffle=False, batch_size=batch_size,
                                    validate_hash='xxh64')
        except FileExistsError:
            if attempt == 19:
                raise
            time.sleep(0.2 + 0.1 * attempt)
