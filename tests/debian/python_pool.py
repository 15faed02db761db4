# python3 multiprocessing.Pool(4): worker processes (fork), POSIX semaphores in /dev/shm
# shared between them, pipes, and the pool's three handler threads.
import multiprocessing

def square(v):
    return v * v

if __name__ == "__main__":
    with multiprocessing.Pool(4) as pool:
        print("process pool", sum(pool.map(square, range(100))))
