"""A small stand-in for a training run: prints progress and reports metrics to tether.

Run it with `tether run --wait examples/train.py`, or plainly with `python examples/train.py`
(the tether calls then do nothing).
"""

import math
import random
import time

import tether

lr = 0.05  # tunable: `tether run -p lr=0.1 examples/train.py`
epochs = 20
delay = tether.param("delay", 0.05)

random.seed(0)
loss = 2.0
for epoch in range(1, epochs + 1):
    loss = loss * (1 - lr) + random.uniform(-0.02, 0.02)
    acc = 1 - math.exp(-epoch * lr * 2)
    tether.report(loss=loss, acc=acc)
    bar = "#" * (epoch * 20 // epochs)
    percent = epoch * 100 // epochs
    print(f"epoch {epoch:2d}/{epochs} loss={loss:.4f} acc={acc:.3f} ", end="")
    print(f"{percent}%|{bar:<20}| {epoch}/{epochs}")
    time.sleep(delay)

tether.send_status(f"final loss {loss:.4f}, accuracy {acc:.3f}")
print("done")
