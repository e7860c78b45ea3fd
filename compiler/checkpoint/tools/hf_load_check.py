"""Loads directories written by `tokenfab gen-model` with Hugging Face transformers and fails
if anything is off: a config field transformers warns about, a missing / unexpected /
mismatched tensor, a tokenizer that is not exactly byte-level, or non-finite logits.

Usage: python3 hf_load_check.py DIR [DIR ...]   (needs transformers >= 5 and torch)

Not run by `cargo test` (it needs PyTorch); run it after changing the generator or the
config writer, e.g. on the device machine (its image has transformers and torch).
Last run 2026-11-27, transformers 5.17.0 + torch 2.11.0: tiny, tiny-qwen2, tiny-mistral and a
3-shard bf16 tiny-mistral all loaded with no warnings and no key mismatches, byte-exact
tokenizer, logits std ~1.0.
"""

import logging
import sys
import warnings

import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record.getMessage())


def check(path):
    collect = Collect()
    transformers.logging.get_logger().addHandler(collect)
    transformers.logging.set_verbosity_warning()
    failures = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = AutoConfig.from_pretrained(path)
        model, info = AutoModelForCausalLM.from_pretrained(
            path, output_loading_info=True, dtype=torch.float32
        )
    for key in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        if info.get(key):
            failures.append(f"{key}: {info[key]}")
    noise = [str(w.message) for w in caught] + collect.records
    if noise:
        failures.append(f"warnings: {noise}")
    transformers.logging.get_logger().removeHandler(collect)

    tok = PreTrainedTokenizerFast(tokenizer_file=f"{path}/tokenizer.json")
    text = "Hello, wörld!\n\ttabs 🦀"
    ids = tok.encode(text, add_special_tokens=False)
    if ids != list(text.encode("utf-8")):
        failures.append(f"tokenizer ids {ids[:8]}... are not the UTF-8 bytes")
    if tok.decode(ids) != text:
        failures.append("tokenizer decode does not round-trip")

    prompt = torch.tensor([[config.bos_token_id] + ids])
    with torch.no_grad():
        logits = model(prompt).logits[0]
    if not torch.isfinite(logits).all():
        failures.append("non-finite logits")
    greedy = model.generate(prompt, max_new_tokens=8, do_sample=False)[0, prompt.shape[1]:]
    print(
        f"{path}: {config.architectures[0]} {model.num_parameters()} params, "
        f"rope {getattr(config, 'rope_parameters', None)}, logits std {logits.std():.3f}, "
        f"greedy {greedy.tolist()}"
    )
    for f in failures:
        print(f"  FAIL {f}")
    return not failures


if __name__ == "__main__":
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    ok = all([check(p) for p in sys.argv[1:]])
    print("all loaded cleanly" if ok else "FAILURES above")
    sys.exit(0 if ok else 1)
