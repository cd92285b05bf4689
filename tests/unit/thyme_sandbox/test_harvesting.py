"""Which images a call produced: the reference's harvest rules, in order."""

from thyme_sandbox import harvesting

OUT = "/sandbox/out"


def everything(_: str) -> bool:
    return True


def test_a_new_processed_path_is_collected():
    assert harvesting.harvest("", OUT, f"{OUT}/a.png", lambda: [f"{OUT}/a.png"], everything) == [f"{OUT}/a.png"]


def test_printed_output_paths_are_collected_in_order_without_duplicates():
    stdout = f"saved {OUT}/b.jpg\nand {OUT}/sub/c.PNG then {OUT}/b.jpg again"
    assert harvesting.harvest(stdout, OUT, None, list, everything) == [f"{OUT}/b.jpg", f"{OUT}/sub/c.PNG"]


def test_bare_file_names_take_the_directory_when_counts_match():
    found = harvesting.harvest("wrote a.jpg and b.jpg", OUT, None, lambda: [f"{OUT}/b.jpg", f"{OUT}/a.jpg"], everything)
    assert found == [f"{OUT}/a.jpg", f"{OUT}/b.jpg"]


def test_paths_outside_the_output_dir_are_never_collected():
    assert harvesting.harvest("see /etc/passwd.png", OUT, "/etc/x.png", list, everything) == []


def test_files_failing_the_result_check_are_dropped():
    assert harvesting.harvest(f"{OUT}/link.jpg", OUT, None, list, lambda p: False) == []


def test_a_computation_collects_nothing():
    assert harvesting.harvest("the answer is 42", OUT, None, list, everything) == []


def test_at_most_ten_images_come_back():
    stdout = " ".join(f"{OUT}/{i}.png" for i in range(15))
    assert len(harvesting.harvest(stdout, OUT, None, list, everything)) == harvesting.MAX_IMAGES


def test_a_symlink_out_of_the_directory_is_not_inside(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"x")
    (out / "link.jpg").symlink_to(secret)
    (out / "real.jpg").write_bytes(b"y")
    assert not harvesting.is_inside(str(out / "link.jpg"), str(out))
    assert harvesting.is_inside(str(out / "real.jpg"), str(out))
