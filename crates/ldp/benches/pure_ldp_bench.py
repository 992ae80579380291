"""Time pure-ldp's frequency oracles end to end (privatise + aggregate + estimate every item)
at the workload of `cargo xtask bench ldp`, printing `NAME REPORTS_PER_SECOND` per line (the
best of 3 runs).

Run by crates/ldp/benches/ldp.rs when PURE_LDP_PYTHON names a Python with pure-ldp 1.2.0.
The slow oracles run on fewer users (their cost is linear in the users; the rate is per
report either way)."""
import argparse
import math
import time

import numpy as np
import xxhash

# pure-ldp 1.2.0 hashes `str` values; xxhash ≥ 3 takes bytes only: encode them as it expects.
_xxh32 = xxhash.xxh32
xxhash.xxh32 = lambda data, seed=0: _xxh32(data.encode() if isinstance(data, str) else data, seed=seed)
from pure_ldp.frequency_oracles.apple_cms import CMSClient, CMSServer
from pure_ldp.frequency_oracles.direct_encoding import DEClient, DEServer
from pure_ldp.frequency_oracles.hadamard_response import HadamardResponseClient, HadamardResponseServer
from pure_ldp.frequency_oracles.local_hashing import LHClient, LHServer
from pure_ldp.frequency_oracles.unary_encoding import UEClient, UEServer

# pure-ldp 1.2.0's sketch servers pass d=None to np.zeros, which numpy 2 refuses: they never
# read d, so give them an empty domain.
import pure_ldp.core._freq_oracle_server as _fos

_fos_init = _fos.FreqOracleServer.__init__
_fos.FreqOracleServer.__init__ = lambda self, epsilon, d, index_mapper=None: _fos_init(
    self, epsilon, 0 if d is None else d, index_mapper)

ap = argparse.ArgumentParser()
ap.add_argument("--domain", type=int, default=1024)
ap.add_argument("--epsilon", type=float, default=1.0)
ap.add_argument("--users", type=int, default=100_000)
args = ap.parse_args()
d, eps = args.domain, args.epsilon

rng = np.random.default_rng(1)
w = 1.0 / np.arange(1, d + 1) ** 1.1
values = rng.choice(d, size=args.users, p=w / w.sum())
ident = lambda x: x


def run(name, client, server, n, reps=3):
    best = 0.0
    for _ in range(reps):
        server.reset()
        t = time.perf_counter()
        for v in values[:n]:
            server.aggregate(client.privatise(int(v)))
        server.estimate_all(range(d), suppress_warnings=True)
        best = max(best, n / (time.perf_counter() - t))
    print(name, best, flush=True)


run("grr", DEClient(eps, d, index_mapper=ident), DEServer(eps, d, index_mapper=ident), args.users)
run("sue", UEClient(eps, d, index_mapper=ident), UEServer(eps, d, index_mapper=ident), 20_000)
run("oue", UEClient(eps, d, use_oue=True, index_mapper=ident),
    UEServer(eps, d, use_oue=True, index_mapper=ident), 20_000)
run("olh", LHClient(eps, d, use_olh=True, index_mapper=ident),
    LHServer(eps, d, use_olh=True, index_mapper=ident), 2_000)
run("blh", LHClient(eps, d, g=2, index_mapper=ident), LHServer(eps, d, g=2, index_mapper=ident), 2_000)
hr_server = HadamardResponseServer(eps, d, index_mapper=ident)
run("hr", HadamardResponseClient(eps, d, hr_server.get_hash_funcs(), index_mapper=ident), hr_server, 20_000)
cms_server = CMSServer(eps, 256, 1024, index_mapper=ident)
run("cms", CMSClient(eps, cms_server.get_hash_funcs(), 1024), cms_server, 5_000)
hcms_server = CMSServer(eps, 256, 1024, is_hadamard=True, index_mapper=ident)
run("hcms", CMSClient(eps, hcms_server.get_hash_funcs(), 1024, is_hadamard=True), hcms_server, 20_000)
