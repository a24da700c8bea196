import threading

from style_transfer.fast.writer import BackgroundWriter


def test_writes_run_in_order_in_one_thread_and_say_when_one_is_under_way():
    busy, done, threads = [], [], set()
    release = threading.Event()
    writer = BackgroundWriter(busy.append)

    def write(name, wait=False):
        if wait:
            release.wait(10)
        threads.add(threading.current_thread().name)
        done.append(name)
        return name

    futures = [writer.submit(write, "a", True), writer.submit(write, "b")]
    assert busy == [True, True] and done == []  # both waiting, nothing written yet
    release.set()
    assert [future.result() for future in futures] == ["a", "b"]
    writer.shutdown()
    assert done == ["a", "b"] and len(threads) == 1 and threading.current_thread().name not in threads
    assert busy[-1] is False and busy.count(False) >= 1
