"""PyTorch peer for decode throughput (run by scripts/bench.js --vs-torch): the model of scripts/bench_decode.js in
plain PyTorch - a Qwen2-style decoder (width 128, 2 layers, 4 query heads sharing 2 key/value heads, head 32, RoPE
theta 1e4, RMSNorm, SwiGLU 512, q/k/v biases, vocab 256, untied head) - decoding greedily with a KV cache
(preallocated [B, Hkv, T, hd] buffers written in place): one forward of the prompt, then one token at a time.
Prompt 192 tokens, 64 new, random weights (the tokens are not compared, only the speed).
Prints JSON: tokens/s at each batch size (prefill included), best of 3 runs after a warm-up, and the time of one
decoding step (the NEW - 1 steps after the prefill, timed inside the run, in the best of the 3 runs for them).
Usage: python3 torch_ref_decode.py [threads] [batch,batch...]"""
import json, sys, time
import torch, torch.nn.functional as F

D, L, H, HKV, HD, FF, V, THETA, EPS = 128, 2, 4, 2, 32, 512, 256, 1e4, 1e-6
PROMPT, NEW = 192, 64


class RMSNorm(torch.nn.Module):
    def __init__(s):
        super().__init__(); s.weight = torch.nn.Parameter(torch.ones(D))

    def forward(s, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * s.weight


def rope(x, cos, sin):  # x [B, heads, T, HD]; NeoX layout: rotate the two halves
    x1, x2 = x[..., : HD // 2], x[..., HD // 2 :]
    return x * cos + torch.cat((-x2, x1), -1) * sin


class Layer(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.n1, s.n2 = RMSNorm(), RMSNorm()
        s.q, s.k, s.v = torch.nn.Linear(D, H * HD), torch.nn.Linear(D, HKV * HD), torch.nn.Linear(D, HKV * HD)
        s.o = torch.nn.Linear(H * HD, D, bias=False)
        s.gate, s.up = torch.nn.Linear(D, FF, bias=False), torch.nn.Linear(D, FF, bias=False)
        s.down = torch.nn.Linear(FF, D, bias=False)

    def forward(s, x, cos, sin, kc, vc, start):  # x [B, T, D]; kc, vc [B, HKV, maxT, HD]
        b, t, _ = x.shape
        h = s.n1(x)
        q = rope(s.q(h).view(b, t, H, HD).transpose(1, 2), cos, sin)
        kc[:, :, start : start + t] = rope(s.k(h).view(b, t, HKV, HD).transpose(1, 2), cos, sin)
        vc[:, :, start : start + t] = s.v(h).view(b, t, HKV, HD).transpose(1, 2)
        k = kc[:, :, : start + t].repeat_interleave(H // HKV, 1)
        v = vc[:, :, : start + t].repeat_interleave(H // HKV, 1)
        a = (q @ k.transpose(-1, -2)) / HD**0.5  # [B, H, t, start + t] (torch 1.13 has no fused attention)
        if t > 1:
            a = a.masked_fill(torch.ones(t, start + t, dtype=torch.bool).triu(start + 1), float("-inf"))
        a = a.softmax(-1) @ v
        x = x + s.o(a.transpose(1, 2).reshape(b, t, H * HD))
        h = s.n2(x)
        return x + s.down(F.silu(s.gate(h)) * s.up(h))


class Decoder(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.emb = torch.nn.Embedding(V, D); s.layers = torch.nn.ModuleList([Layer() for _ in range(L)])
        s.norm = RMSNorm(); s.head = torch.nn.Linear(D, V, bias=False)
        inv = 1.0 / THETA ** (torch.arange(0, HD, 2).float() / HD)
        ang = torch.outer(torch.arange(PROMPT + NEW).float(), inv)
        s.cos, s.sin = torch.cat((ang, ang), -1).cos(), torch.cat((ang, ang), -1).sin()

    def forward(s, ids, caches, start):  # ids [B, T] -> logits of the last position [B, V]
        x = s.emb(ids); t = ids.shape[1]
        cos, sin = s.cos[start : start + t], s.sin[start : start + t]
        for layer, (kc, vc) in zip(s.layers, caches):
            x = layer(x, cos, sin, kc, vc, start)
        return s.head(s.norm(x[:, -1]))


def decode(m, prompt, new=NEW, clock=None):
    """Greedy tokens [B, new]; `clock` (a list), when given, receives the seconds the steps after the prefill took."""
    b = prompt.shape[0]
    caches = [(torch.empty(b, HKV, PROMPT + NEW, HD), torch.empty(b, HKV, PROMPT + NEW, HD)) for _ in range(L)]
    nxt = m(prompt, caches, 0).argmax(-1, keepdim=True); out = [nxt]
    t = time.perf_counter()
    for i in range(new - 1):
        nxt = m(nxt, caches, PROMPT + i).argmax(-1, keepdim=True); out.append(nxt)
    if clock is not None:
        clock.append(time.perf_counter() - t)
    return torch.cat(out, 1)


if __name__ == "__main__":
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2); torch.manual_seed(0)
    batches = [int(b) for b in (sys.argv[2] if len(sys.argv) > 2 else "1,64").split(",")]
    m = Decoder().eval(); result = {}; step_us = {}

    def best_of(fn, n=3):
        best = float("inf")
        for _ in range(n):
            t = time.perf_counter(); fn(); best = min(best, time.perf_counter() - t)
        return best

    with torch.no_grad():
        for b in batches:
            prompt = torch.randint(0, V, (b, PROMPT)); decode(m, prompt)
            steps = []
            full = best_of(lambda: decode(m, prompt, clock=steps))
            result[str(b)] = round(b * NEW / full, 1)
            step_us[str(b)] = round(min(steps) / (NEW - 1) * 1e6, 1)
    print(json.dumps({"tokens_per_s": result, "step_us": step_us, "prompt_tokens": PROMPT, "new_tokens": NEW}))
