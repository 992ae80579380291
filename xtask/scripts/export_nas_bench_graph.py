"""Export the NAS-Bench-Graph 1.4.0 tables as CSV for `cargo xtask fetch-benchmarks`.

    python3 export_nas_bench_graph.py --out DIR --download-dir DIR

Uses the installed `nas_bench_graph` package when it is version 1.4.0; otherwise downloads
the wheel with `python3 -m pip download nas-bench-graph==1.4.0 --no-deps` and reads the
tables from it. Unpickling the tables needs numpy (their values are numpy floats); without
it, numpy is installed with pip into DOWNLOAD_DIR/pydeps (not into the interpreter).

Writes DIR/<dataset>.csv with the header `hash,valid_perf,perf,latency,para`, values as
Python's shortest round-trip decimal (so Rust parses the same float64 bit for bit), and
prints the source on its last line.
"""
import argparse
import glob
import importlib.metadata
import os
import pickle
import subprocess
import sys
import zipfile

VERSION = '1.4.0'
DATASETS = ['cora', 'citeseer', 'pubmed', 'cs', 'physics', 'photo', 'computers', 'arxiv', 'proteins']


def installed_reader():
    try:
        if importlib.metadata.version('nas-bench-graph') != VERSION:
            return None
        import nas_bench_graph
    except Exception:
        return None
    light = os.path.join(os.path.dirname(os.path.abspath(nas_bench_graph.__file__)), 'light')

    def read(d):
        with open(os.path.join(light, d + '.bench'), 'rb') as f:
            return pickle.load(f)
    return read, 'nas-bench-graph %s (installed, %s)' % (VERSION, light)


def wheel_reader(download_dir):
    os.makedirs(download_dir, exist_ok=True)
    wheels = glob.glob(os.path.join(download_dir, 'nas_bench_graph-%s-*.whl' % VERSION))
    if not wheels:
        cmd = [sys.executable, '-m', 'pip', 'download', 'nas-bench-graph==' + VERSION,
               '--no-deps', '--only-binary', ':all:', '-d', download_dir]
        print('running: ' + ' '.join(cmd), file=sys.stderr)
        r = subprocess.run(cmd)
        if r.returncode != 0:
            sys.exit('pip could not download nas-bench-graph==%s (exit %d)' % (VERSION, r.returncode))
        wheels = glob.glob(os.path.join(download_dir, 'nas_bench_graph-%s-*.whl' % VERSION))
    if not wheels:
        sys.exit('no nas_bench_graph-%s wheel in %s' % (VERSION, download_dir))
    wheel = zipfile.ZipFile(wheels[0])

    def read(d):
        with wheel.open('nas_bench_graph/light/%s.bench' % d) as f:
            return pickle.load(f)
    return read, 'nas-bench-graph %s (wheel %s)' % (VERSION, os.path.basename(wheels[0]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', required=True)
    ap.add_argument('--download-dir', required=True)
    args = ap.parse_args()
    try:
        import numpy  # noqa: F401  (the pickles hold numpy floats)
    except ImportError:
        deps = os.path.join(args.download_dir, 'pydeps')
        if not glob.glob(os.path.join(deps, 'numpy')):
            cmd = [sys.executable, '-m', 'pip', 'install', '--quiet', '--target', deps, 'numpy']
            print('running: ' + ' '.join(cmd), file=sys.stderr)
            if subprocess.run(cmd).returncode != 0:
                sys.exit('numpy is needed to read the NAS-Bench-Graph tables and pip could not '
                         'install it; install numpy for %s' % sys.executable)
        sys.path.insert(0, deps)
        import numpy  # noqa: F401
    reader = installed_reader() or wheel_reader(args.download_dir)
    read, source = reader
    os.makedirs(args.out, exist_ok=True)
    for d in DATASETS:
        table = read(d)
        tmp = os.path.join(args.out, d + '.csv.tmp')
        with open(tmp, 'w') as f:
            f.write('hash,valid_perf,perf,latency,para\n')
            for k in sorted(table):
                r = table[k]
                f.write('%d,%s\n' % (k, ','.join(repr(float(r[c])) for c in
                                                 ('valid_perf', 'perf', 'latency', 'para'))))
        os.replace(tmp, os.path.join(args.out, d + '.csv'))
    print(source)


if __name__ == '__main__':
    main()
