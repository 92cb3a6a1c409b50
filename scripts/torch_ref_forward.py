"""PyTorch peer for the batch-1 forward pass of the reference model (the model of torch_ref_step.py, imported).
Prints the median time in ms of one forward pass of 1 x 64 tokens, under torch.no_grad(), after
warm-up (5 passes). Usage: python3 torch_ref_forward.py [threads] [reps]"""
import statistics, sys, time
import torch
from torch_ref_step import LM, T, V
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2); torch.manual_seed(0)
REPS = int(sys.argv[2]) if len(sys.argv) > 2 else 30
m = LM().eval(); ids = torch.randint(0, V, (1, T))
with torch.no_grad():
    for _ in range(5): m(ids)
    ts = []
    for _ in range(REPS):
        t = time.perf_counter(); m(ids); ts.append((time.perf_counter() - t) * 1000)
print(f"{statistics.median(ts):.3f}")
