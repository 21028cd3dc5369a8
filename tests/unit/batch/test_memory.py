"""A long contacts file or do-not-call list is streamed: memory does not grow with its length."""

from __future__ import annotations

import tracemalloc

from runner.batch.contacts import count_rows, read_rows
from runner.batch.dnc import DoNotCall


def peak_kib(work) -> float:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1] / 1024
    finally:
        tracemalloc.stop()


def test_contacts_are_read_one_row_at_a_time(tmp_path):
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    for path, rows in ((small, 1_000), (large, 50_000)):
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("to,name,note\n")
            for i in range(rows):
                fh.write(f"+1312555{i % 10000:04d},Person {i},{'x' * 40}\n")
    assert count_rows(str(large)) == 50_000
    assert next(iter(read_rows(str(large)))).values["name"] == "Person 0"
    small_peak = peak_kib(lambda: count_rows(str(small)))
    large_peak = peak_kib(lambda: count_rows(str(large)))
    assert large.stat().st_size > 3_000_000
    assert large_peak < small_peak + 256, (small_peak, large_peak)


def test_the_do_not_call_list_lives_in_sqlite_not_in_memory(tmp_path):
    from runner.phone import normalise

    normalise("+13125550000")  # load phonenumbers' metadata outside the measurement
    peaks = []
    for size in (500, 10_000):
        path = tmp_path / f"dnc-{size}.txt"
        path.write_text("".join(f"+1312555{i:04d}\n" for i in range(size)), encoding="utf-8")
        holder: list[DoNotCall] = []
        peaks.append(peak_kib(lambda p=path, h=holder: h.append(DoNotCall(str(p)))))
        dnc = holder[0]
        try:
            assert dnc.count == size
            assert "+13125550042" in dnc and "+13125550042 " not in dnc
        finally:
            dnc.close()
    assert peaks[1] < peaks[0] + 256, peaks  # a set of 10 000 numbers would add ~1 MiB
