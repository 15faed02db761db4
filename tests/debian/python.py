# python3: json, hashlib, sqlite3, subprocess, os.fork, threading, multiprocessing, mmap,
# tempfile, struct, zlib, decimal, re. Prints only what is the same on every run.
import hashlib, json, os, re, sqlite3, struct, subprocess, sys, tempfile, zlib
from decimal import Decimal, getcontext

print("version", sys.version_info[:2])
doc = {"name": "uno", "list": [1, 2.5, None, True], "nested": {"k": "v" * 3}}
text = json.dumps(doc, sort_keys=True)
print(text, json.loads(text) == doc)
print(hashlib.sha256(b"uno" * 1000).hexdigest())
print(hashlib.md5(b"").hexdigest(), hashlib.blake2b(b"x", digest_size=8).hexdigest())
db = sqlite3.connect(":memory:")
db.execute("create table t(a integer, b text)")
db.executemany("insert into t values (?, ?)", [(i, str(i) * 2) for i in range(100)])
print(db.execute("select count(*), sum(a), max(b) from t").fetchone())
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "f.db")
    c = sqlite3.connect(path)
    c.execute("create table x(v)")
    c.execute("insert into x values (42)")
    c.commit()
    c.close()
    print("file db", sqlite3.connect(path).execute("select v from x").fetchone()[0])
    print(sorted(os.listdir(d)))
r = subprocess.run(["ls", "/usr/lib/python3.11/json"], capture_output=True, text=True)
print("ls", r.returncode, r.stdout.split()[:3])
r = subprocess.run("echo $((1+2)); exit 5", shell=True, capture_output=True, text=True)
print("sh", r.returncode, r.stdout.strip())
pid = os.fork()
if pid == 0:
    os._exit(7)
_, status = os.waitpid(pid, 0)
print("fork", os.waitstatus_to_exitcode(status))
print(struct.pack("<IhQ", 1, -2, 3).hex(), zlib.crc32(b"hello"), len(zlib.compress(b"a" * 10000)))
getcontext().prec = 30
print(Decimal(1) / Decimal(7))
print(re.sub(r"(\w+)@(\w+)", r"\2 at \1", "user@example and admin@host"))
print(sorted({3, 1, 2}), list(reversed(range(5))), {i: i * i for i in range(4)})
print(f"{1234567.891:,.2f} {255:#x} {0.1 + 0.2!r}")
