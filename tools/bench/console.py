"""The bench's progress lines on stdout, each with the time it was written."""

import time


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)
