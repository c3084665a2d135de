"""What a user sees while a job runs: one progress line (clips, windows,
frames per second, ETA), rewritten in place on a terminal and printed every
few seconds otherwise, and the summary at the end."""
import sys
import time


def _duration(s):
    s = int(s)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    def __init__(self, total, skipped, stream=sys.stderr, every=5.0):
        self.total, self.skipped = total, skipped
        self.done = self.failed = self.windows = self.frames = self.reused = 0
        self.start = self.begin = time.monotonic()
        self.stream, self.tty = stream, stream.isatty()
        self.every, self.last = (0.2 if self.tty else every), 0.0

    def restart(self):
        """Rates count from here (after Ray started); the summary gives both."""
        self.start = time.monotonic()

    def add(self, clips):
        """clips: the rows of one committed shard (pyarrow table)."""
        for r in clips.to_pylist():
            self.done += 1
            self.failed += r["status"] != "ok"
            self.windows += r["windows"]
            self.frames += r["frames"]
            self.reused += bool(r.get("reused"))
        self.show()

    def line(self):
        t = time.monotonic() - self.start
        fps = self.frames / t if t > 0 else 0.0
        eta = "--:--"
        if self.done:
            eta = _duration(t / self.done * (self.total - self.done))
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return (f"clips {self.done}/{self.total} ({pct:.0f}%, {self.failed} failed)  "
                f"windows {self.windows}  {fps:.1f} frames/s  elapsed {_duration(t)}  ETA {eta}")

    def show(self, final=False):
        now = time.monotonic()
        if not final and now - self.last < self.every and self.done < self.total:
            return
        self.last = now
        if self.tty:
            self.stream.write("\r\033[K" + self.line() + ("\n" if final else ""))
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def summary(self, out):
        t = time.monotonic() - self.start
        ok = self.done - self.failed
        rate = (f", {self.done / t:.2f} clips/s, {self.frames / t:.1f} frames/s"
                if self.done and t > 0 else "")
        return (f"done: {ok} clips tokenized ({self.windows} windows, {self.frames} frames), "
                f"{self.skipped} skipped (finished before), {self.failed} failed "
                f"(error rows, see {out}/clips); {t:.1f} s of work{rate}; "
                f"{time.monotonic() - self.begin:.1f} s in all (Ray start-up included)")
