#!/usr/bin/env python3
"""Train tokenfab's shipped byte-level Llama model on the Python standard library.

Recipe (models/pystdlib/TRAINING.md repeats it with the figures of the shipped run)
==================================================================================

Corpus
  Every ``*.py`` file under the training interpreter's standard-library directory,
  ``sysconfig.get_paths()['stdlib']``, found with ``os.walk`` (symlinked directories are
  not followed), EXCLUDING every directory named ``site-packages``, ``dist-packages`` or
  ``__pycache__`` and (unless ``--include-tests``) every directory named ``test``,
  ``tests`` or ``idle_test`` at any depth (Lib/test, unittest/test, idlelib/idle_test,
  lib2to3/tests, ...). Tests are left out because whether they are installed depends on
  the distribution (Debian/Ubuntu ship most of Lib/test in a separate package, Windows
  makes it optional), so leaving them out makes the corpus the same on every install of
  one Python version; they also hold deliberately malformed sources (bad codings,
  bad syntax, non-UTF-8 files) that are not representative "standard-library code".
  Each file is read as raw bytes (Python source is UTF-8 by PEP 3120; nothing is
  decoded or normalised). Files are sorted by their relative path, written with '/'
  separators, compared as Python strings.

Split
  A file is HELD OUT iff int(sha256(relpath.encode('utf-8')).hexdigest(), 16) % 50 == 0
  (about 2% of the files); every other file is a training file.

Tokenisation (byte level)
  token id == byte value (0..255); 256 = bos "<|begin_of_text|>", 257 = eos
  "<|end_of_text|>"; vocab_size = 258 (not padded).

Training stream and samples
  S = train_file_1 ++ [257] ++ train_file_2 ++ [257] ++ ... ++ train_file_n ++ [257].
  A training sample draws r uniformly from [0, len(S) - 512] and uses
  targets y = S[r : r+512] and inputs x = [256] ++ S[r : r+511]: every window starts
  with bos and all 512 positions are scored. The evaluation windows below are built the
  same way, so training and evaluation see identical window shapes.

Evaluation windowing (exact, so the Rust toolkit can reproduce it)
  For a token sequence D of length N (for one text: its raw bytes; for the whole
  held-out split: held-out files joined exactly like the training stream, each file
  followed by eos 257), window k = 0, 1, ..., ceil(N/512)-1 scores the targets
  T_k = D[512k : min(512(k+1), N)] (m = len(T_k) tokens) with the inputs
  [256] ++ D[512k : 512k + m - 1], fed at positions 0..m-1 with a fresh context
  (no KV cache carried between windows). Logits at position i predict T_k[i].
  Each token of D is scored exactly once. nats/token = sum of -log softmax(logits)[target]
  over all scored tokens / N, accumulated in float64, with the model in float32
  (TF32 off). bits/byte = total nats / ln 2 / number of source bytes (for the split, the
  eos targets count in the numerator and the source bytes alone in the denominator;
  for one text the two denominators are the same).

Model
  LlamaForCausalLM: 6 layers, hidden 256, 8 heads (head_dim 32), 4 KV heads (GQA),
  intermediate 704 (2.7 x 256 = 691.2, rounded up to a multiple of 64), SiLU/SwiGLU,
  tied input/output embeddings, rms_norm_eps 1e-5, rope_theta 10000,
  max_position_embeddings 1024, no biases; ~4.5M parameters. Training context 512.

Optimisation
  AdamW (betas 0.9/0.95, eps 1e-8, weight decay 0.1 on matrices and the embedding, none on
  norm gains), peak lr --lr, linear warm-up over --warmup steps, cosine decay to
  --min-lr-frac x peak at the last step, gradient clipping at 1.0, dropout --dropout on
  each layer's attention and MLP outputs and --attn-dropout on attention probabilities
  (training only; the corpus is small, ~10 MB, so a run of minutes makes many epochs), bf16 autocast on CUDA
  (float32 master weights), torch.compile on CUDA. With --seconds the step count is fixed
  after timing steps 10..60 (compile excluded) so that the cosine schedule ends when the
  time budget does; with --steps it is given. Fixed seed (--seed) for the initialisation,
  the sample positions and the split.

Outputs (--out): config.json, generation_config.json (if transformers writes one),
model.safetensors (float32, safe_serialization), heldout.py.txt (the committed evaluation
text, see write_heldout_text), LICENSE-PSF.txt, eval.json (every figure printed here),
corpus_manifest.tsv (relpath, bytes, sha256 of content, split).

Run: python3 scripts/train_pystdlib.py --device cuda --seconds 360 --out models/pystdlib
     python3 scripts/train_pystdlib.py --device cpu --steps 3000 --out /tmp/pystdlib  (hours)
"""

import argparse
import hashlib
import json
import math
import os
import platform
import sys
import sysconfig
import time

import torch
import torch.nn.functional as F

BOS = 256
EOS = 257
VOCAB = 258
CTX = 512
EXCLUDED_DIRS = {"site-packages", "dist-packages", "__pycache__"}
TEST_DIRS = {"test", "tests", "idle_test"}
HELDOUT_MOD = 50
HELDOUT_TEXT_BUDGET = 65536  # bytes, headers included
HELDOUT_TEXT_MIN_FILE = 1024  # bytes; smaller files (e.g. empty __init__.py) are skipped


def log(*a):
    print(*a, flush=True)


# ----------------------------------------------------------------------------- corpus

def is_heldout(relpath):
    return int(hashlib.sha256(relpath.encode("utf-8")).hexdigest(), 16) % HELDOUT_MOD == 0


def collect_corpus(stdlib, include_tests):
    """Return sorted list of (relpath, bytes)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(stdlib):
        keep = []
        for d in dirnames:
            if d in EXCLUDED_DIRS:
                continue
            if not include_tests and d in TEST_DIRS:
                continue
            keep.append(d)
        dirnames[:] = sorted(keep)
        for fn in filenames:
            if not fn.endswith(".py"):
                continue
            full = os.path.join(dirpath, fn)
            if not os.path.isfile(full):
                continue
            rel = os.path.relpath(full, stdlib).replace(os.sep, "/")
            with open(full, "rb") as f:
                out.append((rel, f.read()))
    out.sort(key=lambda t: t[0])
    return out


def join_stream(files):
    """files: list of bytes -> list-free tensor: f1 eos f2 eos ... fn eos (int64)."""
    total = sum(len(b) + 1 for b in files)
    buf = torch.empty(total, dtype=torch.int64)
    pos = 0
    for b in files:
        n = len(b)
        if n:
            buf[pos:pos + n] = torch.frombuffer(bytearray(b), dtype=torch.uint8).to(torch.int64)
        buf[pos + n] = EOS
        pos += n + 1
    return buf


def write_heldout_text(heldout, path):
    """The committed evaluation text: held-out files in sorted order, each of at least
    HELDOUT_TEXT_MIN_FILE bytes and valid UTF-8, taken whole while the running total
    (headers included) stays <= HELDOUT_TEXT_BUDGET; files that would overflow are skipped
    and later (smaller) ones may still fit. Each file is preceded by the line
    '# stdlib: <relpath>\\n'; a file not ending in '\\n' gets one appended."""
    parts, names, total = [], [], 0
    for rel, b in heldout:
        if len(b) < HELDOUT_TEXT_MIN_FILE:
            continue
        try:
            b.decode("utf-8")
        except UnicodeDecodeError:
            continue
        chunk = ("# stdlib: %s\n" % rel).encode("utf-8") + b + (b"" if b.endswith(b"\n") else b"\n")
        if total + len(chunk) > HELDOUT_TEXT_BUDGET:
            continue
        parts.append(chunk)
        names.append(rel)
        total += len(chunk)
    data = b"".join(parts)
    with open(path, "wb") as f:
        f.write(data)
    return data, names


def write_license(stdlib, path):
    cands = [os.path.join(stdlib, "LICENSE.txt"), os.path.join(sys.base_prefix, "LICENSE.txt"),
             os.path.join(sys.base_prefix, "share", "doc", "python3", "copyright")]
    src = next((c for c in cands if os.path.isfile(c)), None)
    head = (
        "The file heldout.py.txt in this directory, and the training corpus of model.safetensors,\n"
        "are source code of the Python %s standard library (files under %s).\n"
        "Copyright (c) 2001 Python Software Foundation; All Rights Reserved.\n"
        "That code is distributed under the Python Software Foundation License Version 2\n"
        "(PSF-2.0), part of the licence terms of Python reproduced below, verbatim from the\n"
        "file %s of the Python installation that trained this model.\n"
        "The full text is also published with every Python release (LICENSE / LICENSE.txt\n"
        "and Doc/license.rst in the CPython source distribution).\n"
        "\n"
        "================================================================================\n\n"
    ) % (platform.python_version(), stdlib, src or "(not found on that machine)")
    body = open(src, "rb").read().decode("utf-8", "replace") if src else ""
    with open(path, "w", encoding="utf-8") as f:
        f.write(head + body)
    return src


# ----------------------------------------------------------------------------- model

def build_model(args):
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=args.hidden,
        intermediate_size=args.intermediate,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads,
        head_dim=args.hidden // args.heads,
        hidden_act="silu",
        max_position_embeddings=1024,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        attention_bias=False,
        mlp_bias=False,
        initializer_range=0.02,
        bos_token_id=BOS,
        eos_token_id=EOS,
        pad_token_id=None,
        use_cache=True,
    )
    cfg._attn_implementation = "sdpa"
    # Attention dropout is read from the config when the modules are built; the saved
    # config is reset to 0.0 (dropout is a training-time device, inference has none).
    cfg.attention_dropout = args.dropout if args.attn_dropout is None else args.attn_dropout
    torch.manual_seed(args.seed)
    model = LlamaForCausalLM(cfg)
    model.config.attention_dropout = 0.0
    if args.dropout > 0:
        add_residual_dropout(model, args.dropout)
    return model


def add_residual_dropout(model, p):
    """Dropout on each layer's attention and MLP outputs before they join the residual
    stream (GPT-2 style). Forward hooks: the module tree, and so the checkpoint, stay
    exactly LlamaForCausalLM's; in eval mode the hooks are the identity."""
    def hook(mod, inp, out):
        if not mod.training:
            return out
        if isinstance(out, tuple):
            return (F.dropout(out[0], p, True),) + tuple(out[1:])
        return F.dropout(out, p, True)
    for layer in model.model.layers:
        layer.self_attn.register_forward_hook(hook)
        layer.mlp.register_forward_hook(hook)


def window_batches(D, batch):
    """Yield (inputs, targets) batches of the evaluation windows described above."""
    N = D.numel()
    nfull = N // CTX
    ar = torch.arange(CTX)
    for b in range(0, nfull, batch):
        k = torch.arange(b, min(nfull, b + batch))
        tgt = D[(k * CTX)[:, None] + ar[None, :]]
        inp = torch.cat([torch.full((len(k), 1), BOS, dtype=torch.int64), tgt[:, :-1]], 1)
        yield inp, tgt
    m = N - nfull * CTX
    if m:
        tgt = D[nfull * CTX:].view(1, m)
        inp = torch.cat([torch.full((1, 1), BOS, dtype=torch.int64), tgt[:, :-1]], 1)
        yield inp, tgt


@torch.no_grad()
def eval_nll(model, D, device, amp=False, batch=64, max_tokens=None):
    """Total NLL (nats, float64) and token count over D with the exact windowing."""
    if max_tokens is not None and D.numel() > max_tokens:
        D = D[:max_tokens]
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    for inp, tgt in window_batches(D, batch):
        inp, tgt = inp.to(device), tgt.to(device)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(input_ids=inp, use_cache=False).logits
        nll = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), tgt.reshape(-1), reduction="none")
        total += nll.double().sum()
    model.train(was_training)
    return total.item(), D.numel()


@torch.no_grad()
def greedy_sample(model, prompt, n, device):
    model.eval()
    ids = [BOS] + list(prompt)
    out = []
    for _ in range(n):
        x = torch.tensor([ids[-CTX:]], dtype=torch.int64, device=device)
        nxt = int(model(input_ids=x, use_cache=False).logits[0, -1].float().argmax())
        out.append(nxt)
        ids.append(nxt)
    return out


def detok(ids):
    return b"".join(bytes([i]) if i < 256 else (b"<|begin_of_text|>" if i == BOS else b"<|end_of_text|>")
                    for i in ids).decode("utf-8", "replace")


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda" if torch.cuda.is_available() else "cpu")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--seconds", type=float, help="training-time budget (step count fixed after timing)")
    g.add_argument("--steps", type=int, help="number of optimizer steps")
    ap.add_argument("--out", default="models/pystdlib")
    ap.add_argument("--no-save", action="store_true", help="evaluate only; write nothing")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--batch", type=int, default=256, help="sequences of 512 tokens per step")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--dropout", type=float, default=0.25, help="residual dropout on attention and MLP outputs (training only)")
    ap.add_argument("--attn-dropout", type=float, default=None, help="attention-probability dropout (default: --dropout)")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--intermediate", type=int, default=704)
    ap.add_argument("--compile", choices=["auto", "on", "off"], default="auto")
    ap.add_argument("--amp", choices=["auto", "on", "off"], default="auto", help="bf16 autocast (auto: on for cuda)")
    ap.add_argument("--include-tests", action="store_true")
    ap.add_argument("--stdlib", default=None, help="override the stdlib directory (default: sysconfig's)")
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--eval-every", type=float, default=30.0, help="seconds of training between held-out checks")
    ap.add_argument("--train-eval-tokens", type=int, default=-1, help="f32 eval on the first N training-stream tokens (-1: all)")
    ap.add_argument("--sample-bytes", type=int, default=300)
    ap.add_argument("--prompt", default="def ")
    args = ap.parse_args()
    if args.seconds is None and args.steps is None:
        args.seconds = 360.0

    device = torch.device(args.device)
    amp = (args.amp == "on") or (args.amp == "auto" and device.type == "cuda")
    use_compile = (args.compile == "on") or (args.compile == "auto" and device.type == "cuda")
    torch.manual_seed(args.seed)
    import transformers
    log("python %s | torch %s | transformers %s | device %s%s" % (
        platform.python_version(), torch.__version__, transformers.__version__, device,
        (" (" + torch.cuda.get_device_name(0) + ")") if device.type == "cuda" else " (%d threads)" % torch.get_num_threads()))
    log("args:", json.dumps(vars(args)))

    # ---- corpus
    stdlib = args.stdlib or sysconfig.get_paths()["stdlib"]
    t0 = time.time()
    corpus = collect_corpus(stdlib, args.include_tests)
    train = [(r, b) for r, b in corpus if not is_heldout(r)]
    held = [(r, b) for r, b in corpus if is_heldout(r)]
    S = join_stream([b for _, b in train])
    H = join_stream([b for _, b in held])
    n_bytes = sum(len(b) for _, b in corpus)
    tr_bytes = sum(len(b) for _, b in train)
    he_bytes = sum(len(b) for _, b in held)
    non_utf8 = [r for r, b in corpus if not _is_utf8(b)]
    log("stdlib %s: %d files, %d bytes (train %d files / %d bytes, held-out %d files / %d bytes); "
        "train stream %d tokens; non-UTF-8 files: %d; read in %.1fs" % (
            stdlib, len(corpus), n_bytes, len(train), tr_bytes, len(held), he_bytes, S.numel(), len(non_utf8),
            time.time() - t0))
    log("held-out files:", " ".join(r for r, _ in held))

    out = args.out
    if not args.no_save:
        os.makedirs(out, exist_ok=True)
        ht_path = os.path.join(out, "heldout.py.txt")
    else:
        ht_path = os.path.join("/tmp", "heldout.py.txt.%d" % os.getpid())
    ht_bytes, ht_names = write_heldout_text(held, ht_path)
    if args.no_save:
        os.remove(ht_path)
    HT = torch.tensor(list(ht_bytes), dtype=torch.int64)
    log("evaluation text: %d bytes, %d files, sha256 %s" % (
        len(ht_bytes), len(ht_names), hashlib.sha256(ht_bytes).hexdigest()))

    # ---- model
    model = build_model(args).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    log("model: %d parameters (unique; embedding tied)" % n_params)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt_kw = dict(lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    if device.type == "cuda":
        opt_kw["fused"] = True
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], **opt_kw)

    def loss_fn(x, y):
        logits = model(input_ids=x, use_cache=False).logits
        return F.cross_entropy(logits.float().reshape(-1, VOCAB), y.reshape(-1))

    step_fn = loss_fn
    if use_compile:
        try:
            step_fn = torch.compile(loss_fn)
        except Exception as e:  # pragma: no cover
            log("torch.compile unavailable (%r); running eager" % (e,))
            step_fn = loss_fn
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    S_dev = S.to(device)
    gen = torch.Generator(device=device)
    gen.manual_seed(args.seed)
    ar = torch.arange(CTX, device=device)
    bos_col = torch.full((args.batch, 1), BOS, dtype=torch.int64, device=device)

    def get_batch():
        r = torch.randint(0, S_dev.numel() - CTX + 1, (args.batch,), device=device, generator=gen)
        y = S_dev[r[:, None] + ar[None, :]]
        x = torch.cat([bos_col, y[:, :-1]], 1)
        return x, y

    def lr_at(step, total):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        p = min(1.0, (step - args.warmup) / max(1, total - args.warmup))
        return args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * p)))

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    total_steps = args.steps if args.steps is not None else 10 ** 9
    calib_from, calib_to = 10, 60
    train_time = 0.0  # seconds spent in training steps (periodic evals excluded)
    t_calib = None
    t_last = time.time()
    next_eval = args.eval_every
    recent = []
    tokens = 0
    step = 0
    model.train()
    log("training: batch %d x %d tokens, peak lr %g, warmup %d, %s" % (
        args.batch, CTX, args.lr, args.warmup,
        ("%d steps" % args.steps) if args.steps is not None else ("%.0f s budget" % args.seconds)))
    while step < total_steps:
        lr = lr_at(step, total_steps)
        for gp in opt.param_groups:
            gp["lr"] = lr
        x, y = get_batch()
        try:
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
                loss = step_fn(x, y)
        except Exception as e:
            if step_fn is loss_fn:
                raise
            log("torch.compile failed at the first step (%s: %s); running eager" % (type(e).__name__, str(e)[:300]))
            step_fn = loss_fn
            continue
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens += x.numel()
        recent.append(loss.detach())
        if len(recent) > 50:
            recent.pop(0)
        if step == calib_from or step == calib_to or step % args.log_every == 0 or step == total_steps:
            sync()
            now = time.time()
            train_time += now - t_last
            t_last = now
            if step == calib_from:
                t_calib = now
            if step == calib_to and args.steps is None:
                per = (now - t_calib) / (calib_to - calib_from)
                total_steps = calib_to + max(1, int((args.seconds - train_time) / per))
                log("calibration: %.1f ms/step, %.0f tokens/s -> %d steps in total" % (
                    per * 1e3, args.batch * CTX / per, total_steps))
            if step % args.log_every == 0 or step == total_steps:
                log("step %6d/%d  loss %.4f  lr %.2e  tokens %.3e  train_time %.1fs  %.0f tok/s" % (
                    step, total_steps, torch.stack(recent).mean().item(), lr, tokens, train_time,
                    tokens / max(train_time, 1e-9)))
            if train_time >= next_eval and step > calib_to and step < total_steps:
                hn, hc = eval_nll(model, H, device, amp=amp, batch=64)
                log("  held-out (bf16 quick check) %.4f nats/token at step %d, %.1fs" % (hn / hc, step, train_time))
                next_eval = train_time + args.eval_every
                t_last = time.time()
            if args.steps is None and train_time > 1.15 * args.seconds:
                log("time budget overrun; stopping at step %d" % step)
                break
    sync()
    train_time += time.time() - t_last
    final_train_loss = torch.stack(recent).mean().item()
    log("training done: %d steps, %.3e tokens (%.1f epochs of the training stream), train_time %.1fs, "
        "final train loss (mean of last %d steps, bf16 autocast) %.4f" % (
            step, tokens, tokens / S.numel(), train_time, len(recent), final_train_loss))

    # ---- final evaluation, float32, TF32 off
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    model.float()
    te = time.time()
    ln2 = math.log(2)
    hn, hc = eval_nll(model, H, device, batch=32)
    tn, tc = eval_nll(model, HT, device, batch=32)
    trn, trc = eval_nll(model, S, device, batch=32,
                        max_tokens=None if args.train_eval_tokens < 0 else args.train_eval_tokens)
    res = {
        "heldout_split": {"tokens": hc, "source_bytes": he_bytes, "files": len(held),
                          "nats_per_token": hn / hc, "bits_per_byte": hn / ln2 / he_bytes},
        "heldout_text": {"bytes": tc, "files": len(ht_names), "sha256": hashlib.sha256(ht_bytes).hexdigest(),
                         "nats_per_byte": tn / tc, "bits_per_byte": tn / ln2 / tc, "total_nats": tn},
        "train_stream_f32": {"tokens": trc, "nats_per_token": trn / trc},
    }
    log("EVAL (float32, non-overlapping 512-token windows, bos-prefixed) in %.1fs:" % (time.time() - te))
    log("  held-out split : %d tokens (%d files, %d bytes + %d eos): %.4f nats/token, %.4f bits/byte" % (
        hc, len(held), he_bytes, len(held), hn / hc, hn / ln2 / he_bytes))
    log("  heldout.py.txt : %d bytes (%d files): %.4f nats/byte, %.4f bits/byte" % (tc, len(ht_names), tn / tc, tn / ln2 / tc))
    log("  training stream: %d tokens: %.4f nats/token" % (trc, trn / trc))

    sample = greedy_sample(model, args.prompt.encode("utf-8"), args.sample_bytes, device)
    sample_text = args.prompt + detok(sample)
    log("greedy sample (prompt %r, %d tokens):\n-----\n%s\n-----" % (args.prompt, len(sample), sample_text))

    info = {
        "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
        "device": str(device) + ((" " + torch.cuda.get_device_name(0)) if device.type == "cuda" else ""),
        "args": vars(args), "stdlib": stdlib,
        "corpus": {"files": len(corpus), "bytes": n_bytes, "train_files": len(train), "train_bytes": tr_bytes,
                   "heldout_files": len(held), "heldout_bytes": he_bytes, "train_stream_tokens": S.numel(),
                   "non_utf8_files": non_utf8, "excluded_dirs": sorted(EXCLUDED_DIRS | (set() if args.include_tests else TEST_DIRS)),
                   "heldout_file_list": [r for r, _ in held], "heldout_text_files": ht_names},
        "parameters": n_params,
        "training": {"steps": step, "tokens": tokens, "epochs": tokens / S.numel(), "train_time_s": train_time,
                     "final_train_loss_last50_bf16": final_train_loss, "compiled": step_fn is not loss_fn, "amp_bf16": amp},
        "eval": res, "sample_prompt": args.prompt, "sample_ids": sample, "sample_text": sample_text,
    }
    if not args.no_save:
        model.save_pretrained(out, safe_serialization=True)
        lic = write_license(stdlib, os.path.join(out, "LICENSE-PSF.txt"))
        log("licence text copied from %s" % lic)
        with open(os.path.join(out, "eval.json"), "w") as f:
            json.dump(info, f, indent=1)
        with open(os.path.join(out, "corpus_manifest.tsv"), "w") as f:
            f.write("relpath\tbytes\tsha256\tsplit\n")
            for r, b in corpus:
                f.write("%s\t%d\t%s\t%s\n" % (r, len(b), hashlib.sha256(b).hexdigest(), "heldout" if is_heldout(r) else "train"))
        log("saved to %s: %s" % (out, " ".join(sorted(os.listdir(out)))))
    log("RESULT " + json.dumps({"lr": args.lr, "batch": args.batch, "steps": step, "train_time": round(train_time, 1),
                                "heldout_nats": round(hn / hc, 4), "text_nats": round(tn / tc, 4),
                                "train_f32_nats": round(trn / trc, 4)}))


def _is_utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


if __name__ == "__main__":
    main()
