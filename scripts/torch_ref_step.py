"""PyTorch peer for the reference training step (run by scripts/bench.js --vs-torch): 2-layer pre-LN transformer,
width 128, 4 heads, MLP 512, vocab 256, batch 32 x 64 tokens, AdamW. Prints the median step time in ms (5 after 2
warm-up). Usage: python3 torch_ref_step.py [threads]. torch_ref_forward.py imports the model from here."""
import statistics, sys, time
import torch, torch.nn.functional as F
B, T, D, H, L, V, FF = 32, 64, 128, 4, 2, 256, 512
class Block(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.ln1, s.ln2 = torch.nn.LayerNorm(D), torch.nn.LayerNorm(D)
        s.qkv, s.o = torch.nn.Linear(D, 3 * D), torch.nn.Linear(D, D)
        s.f1, s.f2 = torch.nn.Linear(D, FF), torch.nn.Linear(FF, D)
    def forward(s, x):
        b = x.shape[0]
        q, k, v = s.qkv(s.ln1(x)).view(b, T, 3, H, D // H).permute(2, 0, 3, 1, 4)
        a = (q @ k.transpose(-1, -2)) / (D // H) ** 0.5
        a = a.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float('-inf')).softmax(-1)
        x = x + s.o((a @ v).transpose(1, 2).reshape(b, T, D))
        return x + s.f2(F.gelu(s.f1(s.ln2(x))))
class LM(torch.nn.Module):
    def __init__(s):
        super().__init__(); s.emb = torch.nn.Embedding(V, D); s.pos = torch.nn.Parameter(torch.zeros(T, D))
        s.blocks = torch.nn.ModuleList([Block() for _ in range(L)]); s.ln = torch.nn.LayerNorm(D)
        s.head = torch.nn.Linear(D, V, bias=False)
    def forward(s, ids):
        x = s.emb(ids) + s.pos
        for b in s.blocks: x = b(x)
        return s.head(s.ln(x))
if __name__ == "__main__":
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2); torch.manual_seed(0)
    m = LM(); opt = torch.optim.AdamW(m.parameters(), 1e-3, weight_decay=0.01)
    ids = torch.randint(0, V, (B, T)); tgt = torch.randint(0, V, (B, T))
    def step():
        opt.zero_grad(set_to_none=True); loss = F.cross_entropy(m(ids).view(-1, V), tgt.view(-1)); loss.backward()
        opt.step(); return loss.item()
    for _ in range(2): step()
    ts = []
    for _ in range(5):
        t = time.perf_counter(); step(); ts.append((time.perf_counter() - t) * 1000)
    print(f"{statistics.median(ts):.1f}")
