#!/usr/bin/env python3
# Times the rooms directory of a release `stoa serve` (target/release/stoa) with N rooms
# (default 33,000, Lync's model), asked by a plain user, against GET /healthz in the same run.
import http.client, json, os, statistics, subprocess, sys, tempfile, threading, time, concurrent.futures as cf
import socket
probe = socket.socket(); probe.bind(("127.0.0.1", 0)); PORT = probe.getsockname()[1]; probe.close()
data = tempfile.mkdtemp()
env = dict(os.environ, STOA_ADMIN_PASSWORD="correct-horse-battery")
STOA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "target", "release", "stoa")
server = subprocess.Popen([STOA, "serve", "--data", data, "--listen", f"127.0.0.1:{PORT}"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
banner = server.stdout.readline().decode()
if not banner.startswith("Stoa is serving at"):
    sys.exit(f"stoa serve did not start: {banner!r}")
local = threading.local()
def call(method, path, body=None, token=None):
    if not hasattr(local, "c"):
        local.c = http.client.HTTPConnection("127.0.0.1", PORT)
    headers = {"content-type": "application/json"}
    if token: headers["authorization"] = "Bearer " + token
    for attempt in range(2):
        try:
            local.c.request(method, path, json.dumps(body) if body is not None else None, headers)
            r = local.c.getresponse(); data = r.read()
            return r.status, data
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closes keep-alive connections left idle; open another.
            local.c = http.client.HTTPConnection("127.0.0.1", PORT)
    raise RuntimeError("no answer")
st, b = call("POST", "/api/v1/sessions", {"user": "admin", "password": "correct-horse-battery"})
admin = json.loads(b)["token"]
call("POST", "/api/v1/users", {"login": "alice@contoso.com", "password": "alice-password-1x"}, admin)
st, b = call("POST", "/api/v1/sessions", {"user": "alice@contoso.com", "password": "alice-password-1x"})
alice = json.loads(b)["token"]
N = int(sys.argv[1]) if len(sys.argv) > 1 else 33000
t = time.time()
def make(n):
    st, _ = call("POST", "/api/v1/rooms", {"name": f"Room {n:05d}", "privacy": "open", "description": f"Topic number {n}"}, admin)
    # 409: a retry after a lost answer found the room made.
    assert st in (201, 409), st
with cf.ThreadPoolExecutor(16) as pool:
    list(pool.map(make, range(N)))
print(f"created {N} rooms in {time.time()-t:.1f} s", flush=True)
st, b = call("GET", "/api/v1/rooms?limit=1000", None, alice)
mid = json.loads(b)[-1]["id"]
cases = [
    ("GET /healthz (baseline)", "/healthz"),
    ("first page of 100", "/api/v1/rooms?limit=100"),
    ("a page of 100 after room 1000", f"/api/v1/rooms?limit=100&after={mid}"),
    ("search 'number 1234', first 100", "/api/v1/rooms?q=number%201234&limit=100"),
    ("search 'room 3', first 100", "/api/v1/rooms?q=room%203&limit=100"),
    (f"every room ({N:,})", "/api/v1/rooms"),
]
results = {name: [] for name, _ in cases}
rounds = 21
for r in range(rounds):
    for name, path in (cases if r % 2 == 0 else list(reversed(cases))):
        if name.startswith("every") and r >= 7: continue
        t = time.perf_counter(); st, b = call("GET", path, None, alice); took = (time.perf_counter() - t) * 1000
        assert st == 200, (path, st)
        results[name].append(took)
base = statistics.median(results[cases[0][0]])
for name, _ in cases:
    xs = sorted(results[name]); med = statistics.median(xs); p95 = xs[int(round((len(xs)-1)*0.95))]
    print(f"{name:40s} median {med:8.2f} ms  p95 {p95:8.2f} ms  {med/base:8.1f}x baseline")
server.terminate(); server.wait()
