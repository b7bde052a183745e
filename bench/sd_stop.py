"""Ends a StreamingDataset iteration stopped before the end of its epoch.

StreamingDataset's __iter__ runs a download thread and a ready thread on its own
thread pool; breaking out of the loop leaves them running, and the download thread
goes on copying and decompressing shards into the dataset's local directory. A
script that then removes that directory races with them. stop() signals both
threads, waits until they have exited and shuts the pool down; with a DataLoader
whose workers hold their own copies of the dataset, it shuts the workers down and
waits for them first. After stop() nothing of StreamingDataset writes anywhere.
"""
import threading


def stop(ds, loader_iter=None):
    """Stops LOADER_ITER's worker processes (a DataLoader iterator, if any), then
    DS's own iteration threads in this process; raises if a thread outlives it."""
    if loader_iter is not None:
        shutdown = getattr(loader_iter, '_shutdown_workers', None)
        if shutdown is not None:
            shutdown()  # joins the worker processes (terminates any that hang)
        for w in getattr(loader_iter, '_workers', []):
            w.join()
    it = getattr(ds, '_iterator', None)
    if it is not None:
        it.exit()  # signals both threads and waits until each has exited
    pool = getattr(ds, '_executor', None)
    if pool is not None:
        pool.shutdown(wait=True)
        left = [t.name for t in threading.enumerate()
                if t is not threading.main_thread() and t.name.startswith('ThreadPoolExecutor')]
        if left:
            raise RuntimeError('StreamingDataset threads still running: ' + ', '.join(left))
