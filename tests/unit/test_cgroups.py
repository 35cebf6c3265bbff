"""Where the daemon finds a cgroup to give its isolated workers, read from files shaped as Linux has them."""

from __future__ import annotations

from pathlib import Path

from connector_proxy.isolation.cgroups import memory_cgroups


def layout(tmp_path: Path, proc: str, files: dict[str, str]) -> tuple[Path, Path]:
    (tmp_path / "proc").write_text(proc)
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return tmp_path / "proc", root


def test_a_delegated_v2_cgroup_with_the_memory_controller_is_used(tmp_path: Path) -> None:
    proc, root = layout(
        tmp_path,
        "0::/system.slice/proxy.service\n",
        {
            "cgroup.controllers": "cpu memory\n",
            "system.slice/proxy.service/cgroup.subtree_control": "memory\n",
        },
    )

    found = memory_cgroups.__wrapped__(proc, root)

    assert found is not None and (found.version, found.kind) == (2, "cgroup v2")
    assert found.parent == root / "system.slice" / "proxy.service"
    made = found.make("crm", 128 * 1024 * 1024)
    assert made is not None and (made.path / "memory.max").read_text() == str(128 * 1024 * 1024)
    assert not made.ran_out()
    (made.path / "memory.max").unlink()  # a real cgroup's files vanish with it
    made.remove()
    assert not made.path.exists()


def test_a_v2_cgroup_without_memory_for_its_children_is_not(tmp_path: Path) -> None:
    proc, root = layout(
        tmp_path,
        "0::/user.slice\n",
        {"cgroup.controllers": "memory\n", "user.slice/cgroup.subtree_control": "\n"},
    )

    assert memory_cgroups.__wrapped__(proc, root) is None


def test_a_writable_v1_memory_cgroup_is_used_and_its_oom_kills_read(tmp_path: Path) -> None:
    proc, root = layout(
        tmp_path,
        "4:memory:/docker/abc\n0::/\n",
        {"memory/docker/abc/memory.limit_in_bytes": "9223372036854771712\n"},
    )

    found = memory_cgroups.__wrapped__(proc, root)

    assert found is not None and found.version == 1
    made = found.make("crm", 64 * 1024 * 1024)
    assert made is not None and (made.path / "memory.limit_in_bytes").read_text() == str(64 * 1024 * 1024)
    (made.path / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    assert made.ran_out()


def test_no_cgroup_file_means_no_cgroup(tmp_path: Path) -> None:
    assert memory_cgroups.__wrapped__(tmp_path / "missing", tmp_path) is None
