"""PyTorch peer for the batch-1 forward pass of the reference model (the model of
scripts/torch_ref_step.py, defined the same way here because that script runs on import).
Prints the median time in ms of one forward pass of 1 x 64 tokens, under torch.no_grad(), after
warm-up (5 passes). Usage: python3 torch_ref_forward.py [threads] [reps]"""
import statistics, sys, time
import torch, torch.nn.functional as F
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2); torch.manual_seed(0)
REPS = int(sys.argv[2]) if len(sys.argv) > 2 else 30
T, D, H, L, V, FF = 64, 128, 4, 2, 256, 512
class Block(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.ln1, s.ln2 = torch.nn.LayerNorm(D), torch.nn.LayerNorm(D)
        s.qkv, s.o = torch.nn.Linear(D, 3 * D), torch.nn.Linear(D, D)
        s.f1, s.f2 = torch.nn.Linear(D, FF), torch.nn.Linear(FF, D)
    def forward(s, x):
        B = x.shape[0]
        q, k, v = s.qkv(s.ln1(x)).view(B, T, 3, H, D // H).permute(2, 0, 3, 1, 4)
        a = (q @ k.transpose(-1, -2)) / (D // H) ** 0.5
        a = a.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float('-inf')).softmax(-1)
        x = x + s.o((a @ v).transpose(1, 2).reshape(B, T, D))
        return x + s.f2(F.gelu(s.f1(s.ln2(x))))
class LM(torch.nn.Module):
    def __init__(s):
        super().__init__(); s.emb = torch.nn.Embedding(V, D); s.pos = torch.nn.Parameter(torch.zeros(T, D))
        s.blocks = torch.nn.ModuleList([Block() for _ in range(L)]); s.ln = torch.nn.LayerNorm(D); s.head = torch.nn.Linear(D, V, bias=False)
    def forward(s, ids):
        x = s.emb(ids) + s.pos
        for b in s.blocks: x = b(x)
        return s.head(s.ln(x))
m = LM().eval(); ids = torch.randint(0, V, (1, T))
with torch.no_grad():
    for _ in range(5): m(ids)
    ts = []
    for _ in range(REPS):
        t = time.perf_counter(); m(ids); ts.append((time.perf_counter() - t) * 1000)
print(f"{statistics.median(ts):.3f}")
