# python3 threads: threading with a lock and a condition, a queue, a thread pool.
import concurrent.futures, queue, threading

total = 0
lock = threading.Lock()
def add(n):
    global total
    for _ in range(n):
        with lock:
            total += 1
threads = [threading.Thread(target=add, args=(10000,)) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print("threads", total)
q = queue.Queue()
def producer():
    for i in range(100): q.put(i)
    q.put(None)
threading.Thread(target=producer).start()
got = []
while (x := q.get()) is not None: got.append(x)
print("queue", sum(got))
cond = threading.Condition(); ready = []
def waiter():
    with cond:
        cond.wait_for(lambda: ready)
        ready.append("woken")
w = threading.Thread(target=waiter); w.start()
with cond:
    ready.append("go"); cond.notify_all()
w.join(); print("condition", ready)
with concurrent.futures.ThreadPoolExecutor(4) as ex:
    print("thread pool", sum(ex.map(lambda v: v * v, range(100))))
print("active threads", threading.active_count())
