"""A stand-in for load_and_run with controlled behaviour: takes its command line and writes
real-format binary dump files (one write per file, like MegEngine), then reports what it wrote.

Own options (given by the agent config's `args`, before the model):
  --files N  --file-bytes B  --delay S  --exit-code C  --ignore-dir
Every line `wrote <name> <sha256>` on stdout names a file it wrote, for the tests to check.
"""

import argparse
import hashlib
import os
import sys
import time

from analysis.dump_bin import dump_name, encode_dump


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--files", type=int, default=3)
    p.add_argument("--file-bytes", type=int, default=4096)
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--exit-code", type=int, default=0)
    p.add_argument("model")
    p.add_argument("--input", default="")
    p.add_argument("--bin-io-dump")
    p.add_argument("--io-dump")
    p.add_argument("--iter", type=int)
    p.add_argument("--warmup-iter", type=int)
    p.add_argument("--fast-run", action="store_true")
    p.add_argument("--fast-run-algo-policy")
    args, rest = p.parse_known_args()
    print("argv " + " ".join(sys.argv[1:]), flush=True)
    print("env MGB_USE_MEGDNN_DBG=" + os.environ.get("MGB_USE_MEGDNN_DBG", "<unset>"), flush=True)
    print("env LARFARM_TOKEN=" + ("<set>" if "LARFARM_TOKEN" in os.environ else "<unset>"), flush=True)
    with open(args.model, "rb") as f:
        model_sha = hashlib.sha256(f.read()).hexdigest()
    print(f"model {model_sha}", flush=True)
    for item in filter(None, args.input.split(";")):
        name, _, spec = item.partition(":")
        if os.path.isfile(spec):
            with open(spec, "rb") as f:
                print(f"input {name} file {hashlib.sha256(f.read()).hexdigest()}", flush=True)
        else:
            print(f"input {name} literal {spec}", flush=True)
    if args.bin_io_dump:
        if not os.path.isdir(args.bin_io_dump):
            print(f"failed to open {args.bin_io_dump}000001: No such file or directory", file=sys.stderr)
            return 1
        n_floats = max(1, (args.file_bytes - 200) // 4)
        for i in range(args.files):
            var_id = 5 + 4 * i
            title = (
                f"var={{id:{var_id}, layout:{{{n_floats}(1) Float32}}, Float32, owner:opr{i}{{Elemwise}}, "
                f'name:v{i}, slot:0, CompNode("cpu0:0" from "cpu0:0"), s, 4, 8}} owner_opr_inputs='
            )
            payload = os.urandom(n_floats * 4)
            blob = encode_dump(title, 0, (n_floats,), payload)
            name = dump_name(var_id)
            with open(os.path.join(args.bin_io_dump, name), "wb") as f:
                f.write(blob)  # one write, as MegEngine's write_to_file does
            print(f"wrote bin/{name} {hashlib.sha256(blob).hexdigest()}", flush=True)
            if args.delay:
                time.sleep(args.delay)
    if args.io_dump:
        text = (
            "var5 produced: name=data layout={4(1) Float32} owner_opr=data{Host2DeviceCopy} opr4\n"
            " deps:\n val: [1, 2, 3, 4]min=1 max=4 mean=2.5 l2=2.74 sd=1.29 s\n"
        )
        with open(args.io_dump, "w") as f:
            f.write(text)
        print(f"wrote io.txt {hashlib.sha256(text.encode()).hexdigest()}", flush=True)
    if args.fast_run and args.fast_run_algo_policy:
        # like load_and_run: the cache is written at exit after a fast-run
        with open(args.fast_run_algo_policy, "ab") as f:
            f.write(b"algo-cache-entry\n")
    print("some warning on stderr", file=sys.stderr, flush=True)
    return args.exit_code


if __name__ == "__main__":
    sys.exit(main())
