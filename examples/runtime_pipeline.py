"""A stateful model inside a pipeline, on the built-in runtime (no cluster to start).

The model is an actor: it loads once, keeps state between calls, and runs in its own
process while the stream keeps emitting. Run: `.venv/bin/python examples/runtime_pipeline.py`.
"""
import time

import streamz_core.runtime as rt
from streamz_core import Stream


@rt.remote
class SentimentModel:
    """Stands for a model that is slow to load and cheap to call."""

    def __init__(self, positive_words):
        self.positive = set(positive_words)  # "loading the weights"
        self.calls = 0

    def score(self, text):
        self.calls += 1
        words = text.lower().split()
        return {"text": text, "score": sum(w in self.positive for w in words) / len(words),
                "call": self.calls}


def main():
    model = SentimentModel.remote(["good", "great", "fast", "happy"])
    source = Stream()
    scored = (source.scatter()                  # the embedded default: the built-in runtime
                    .map(model.score)           # an actor method: called with .remote
                    .buffer(8)                  # up to 8 calls in flight
                    .gather())                  # back here, in order
    scored.filter(lambda r: r["score"] > 0.2).sink(
        lambda r: print(f"  call {r['call']:>2}  {r['score']:.2f}  {r['text']}"))
    done = scored.sink_to_list()

    lines = ["streams are great", "the build was slow", "fast and happy tests",
             "nothing to see", "good good good", "a plain sentence"] * 3
    start = time.perf_counter()
    for line in lines:
        source.emit(line)
    while len(done) < len(lines):
        time.sleep(0.001)
    print(f"{len(done)} lines scored in {time.perf_counter() - start:.3f}s by one actor")
    rt.shutdown()


if __name__ == "__main__":
    main()
