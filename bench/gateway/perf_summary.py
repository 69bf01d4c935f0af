"""Summarizes `perf script` output of a `perf record --call-graph dwarf` of basalt: the share of
samples under each kind of work (inclusive), and which functions call the allocator.

  perf script -i perf.data > perf.script && python3 perf_summary.py perf.script
"""

from __future__ import annotations

import collections
import re
import sys

# inclusive buckets: a sample counts in each bucket one of its frames matches
BUCKETS = {
    "kernel TCP send (writev)": r"writev",
    "kernel recv": r"recv",
    "epoll_wait": r"epoll_wait",
    "futex / thread parking": r"futex|park",
    "allocator (any frame)": r"^_?mi_|_mi_",
    "serde_json": r"serde_json",
    "tracing (logging)": r"^tracing|tracing_subscriber",
    "metrics": r"^metrics|metrics_util",
    "uuid": r"uuid",
    "reqwest": r"reqwest",
    "hyper client": r"role::Client|hyper_util::client",
    "hyper server": r"hyper::server|role::Server",
    "axum": r"axum",
    "basalt_server": r"basalt_server",
    "basalt_models": r"basalt_models",
}
ALLOC = re.compile(r"^_?mi_|_mi_|^malloc|^free$|^cfree")
# frames to look past when naming the allocator's caller: std, alloc, generic glue
GLUE = re.compile(
    r"mi_|malloc|free|^alloc::|^core::|^<alloc::|^<core::|__rust|drop_in_place|RawVec|finish_grow"
    r"|^(realloc|grow|with_capacity|reserve|clone|to_vec|to_owned|new|new<.*|allocate|alloc|dealloc"
    r"|drop|box_new|exchange_malloc|from|into|extend|push|insert|collect|to_string|format|write_str"
    r"|push_str|fmt|map|call|poll|next|get|set|as_ref|do_reserve_and_handle<.*)$|^\{closure|_impl(_runtime)?$"
)


def samples(path: str) -> list[list[str]]:
    out, cur = [], None
    for line in open(path, errors="replace"):
        if line and not line[0].isspace():
            if cur:
                out.append(cur)
            cur = []
            continue
        m = re.match(r"\s*[0-9a-f]+ (.*?)(\+0x[0-9a-f]+)? \((.*)\)$", line)
        if m and cur is not None:
            cur.append(m.group(1))
    if cur:
        out.append(cur)
    return out


def main(path: str) -> None:
    all_samples = samples(path)
    n = max(1, len(all_samples))
    print(f"{len(all_samples)} samples")
    print("\ninclusive share of samples:")
    for name, pattern in BUCKETS.items():
        rx = re.compile(pattern)
        hit = sum(1 for s in all_samples if any(rx.search(f) for f in s))
        print(f"  {100 * hit / n:5.1f}%  {name}")
    leaf = [s for s in all_samples if s and ALLOC.search(s[0])]
    print(f"\nallocator as the leaf: {100 * len(leaf) / n:.1f}%; its first non-glue callers:")
    callers = collections.Counter()
    for s in leaf:
        for f in s[1:]:
            if not GLUE.search(f):
                callers[f[:140]] += 1
                break
    for name, count in callers.most_common(20):
        print(f"  {count:4d}  {name}")


if __name__ == "__main__":
    main(sys.argv[1])
