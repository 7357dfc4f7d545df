"""Training the built-in NLU model in a child process, and one training at a time per model cache.

The model itself fits in about a third of a second; importing scikit-learn takes 1.5 s. On a first start (an
empty model cache) the server forks the child as soon as the app starts (`TrainingChild.early`): the child
imports scikit-learn while the server opens its database and Redis and builds its knowledge base, then trains
the moment it is sent the examples with their words (`KnownWords`: the server's tokenizer has split them, so
the child needs no jieba dictionary). The import no longer holds up a first start (issue 9: start-up ≤ 5 s).
scikit-learn is only ever imported in the child, so a server's first start holds no more memory than its
restarts.

Workers of a pool starting together on an empty cache trained the same model at once, on the same cores. A lock
file in the cache lets one of them train; the others wait for it and read its model.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from core import pickle_cache
from intents.training import Example

if TYPE_CHECKING:
    from intents.builtin import KnownWords

log = logging.getLogger("intents.trainer")
# fork, not spawn: the child inherits the modules the server imported instead of loading them again. Not on
# macOS, where forking a process that has started system frameworks is unsafe, nor where there is no fork.
FORK_TO_TRAIN = sys.platform == "linux"
MODEL_GLOB = "nlu-*.pkl"
LOCK_KIND = "nlu"  # the cache's lock file: nlu.lock
# What `intents.builtin.fit_pipeline` imports: the child imports it before it has anything to train.
TRAINING_MODULES = ("sklearn.calibration", "sklearn.feature_extraction.text", "sklearn.pipeline", "sklearn.svm")
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


class TrainingChild:
    """A forked child that prepares to train (imports scikit-learn), then trains on the examples it is sent and
    saves the model to the path it is sent, or exits when the pipe closes unused.
    """

    def __init__(self, pid: int, pipe: int, lock: FileLock | None) -> None:
        self._pid: int | None = pid
        self._pipe: int | None = pipe
        self._lock = lock

    @classmethod
    def fork(cls, lock: FileLock | None = None) -> TrainingChild:
        """Fork the child; it starts importing at once. `lock`, held by the caller, is released by `close`.

        A bare fork with os._exit, not multiprocessing: the child must run none of the server's exit handlers
        (an asyncio thread pool's, the embedded Redis's), which multiprocessing's process bootstrap does run.
        The child ignores stop signals: the server ends it (`close`), and a stop during start-up lets start-up
        finish first (`bot.cli`), so a Ctrl+C or a service manager's SIGTERM to every process would otherwise
        kill the training the server is waiting for, and the server would train by itself before stopping. It
        cannot be left behind: it exits when the server's end of the pipe closes, however the server ended.
        The signals are blocked across the fork, so none reaches the child before it has dropped the server's
        handlers (which would wake the server's event loop, not the child).
        """
        read_end, write_end = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            pid = os.fork()
        except BaseException:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
            os.close(read_end)
            os.close(write_end)
            raise
        if pid == 0:  # pragma: no cover - the child: coverage does not follow it
            os.close(write_end)
            _child_main(read_end, previous_mask)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        os.close(read_end)
        return cls(pid, write_end, lock)

    @classmethod
    def early(cls, cache_dir: Path) -> TrainingChild | None:
        """The child, forked now, when the cache has no model at all (a first start) and no other process is
        training into it; else None, and `load_or_train` does what is needed when the data is known.
        """
        if not FORK_TO_TRAIN or any(cache_dir.glob(MODEL_GLOB)):
            return None
        # None while another worker of the pool trains (this one waits for its model in `load_or_train`), or
        # where the data dir cannot be written (the server then trains without caching).
        lock = pickle_cache.take_lock(cache_dir, LOCK_KIND, wait=False)
        if lock is None:
            return None
        log.debug("NLU training child forked early (no cached model in %s)", cache_dir)
        try:
            return cls.fork(lock)
        except BaseException:
            lock.release()
            raise

    def train(self, examples: Sequence[Example], words: KnownWords, path: Path) -> int:
        """Have the child train on `examples`, whose words are `words`, and save the model at `path`; its exit
        code (0: the file is written). Blocks until the child has ended.
        """
        assert self._pipe is not None, "this child was already used"
        pipe, self._pipe = self._pipe, None
        try:
            with os.fdopen(pipe, "wb") as sink:
                pickle.dump((list(examples), words, path), sink, protocol=pickle.HIGHEST_PROTOCOL)
        except BrokenPipeError:  # the child is gone: its exit code says why
            pass
        return self._reap()

    def close(self) -> None:
        """End the child if it is still waiting (it would only exit) and release the lock. Idempotent."""
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
            if self._pid is not None:
                os.kill(self._pid, signal.SIGKILL)  # it may be importing still: no need to wait for that
        if self._pid is not None:
            self._reap()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _reap(self) -> int:
        assert self._pid is not None
        pid, self._pid = self._pid, None
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)


def _child_main(pipe: int, mask: Iterable[int]) -> None:  # pragma: no cover - child
    """The child's whole life: prepare, wait for the data, train and save, exit without the server's handlers."""
    code = 1
    try:
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(-1)
        for signum in _STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for name in TRAINING_MODULES:
            importlib.import_module(name)
        with os.fdopen(pipe, "rb") as source:
            data = source.read()
        if data:
            examples, words, path = pickle.loads(data)
            save_model(train_model(examples, words), path)
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def train_model(examples: Sequence[Example], words: KnownWords) -> Any:
    """`intents.builtin.train`, imported late: that module imports this one."""
    from intents.builtin import train

    return train(examples, words)


def save_model(model: Any, path: Path) -> None:
    """Write the model as the only cached one, atomically."""
    pickle_cache.write(path, model, replaces=MODEL_GLOB)
