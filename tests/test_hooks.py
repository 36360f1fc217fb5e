"""The pre-commit hooks run the pinned ruff of .venv, offline: an unused import stops the
commit, a clean file passes."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def pre_commit(folder: Path, *files: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRE_COMMIT_HOME": str(folder / ".cache")}
    return subprocess.run(
        [str(Path(sys.executable).parent / "pre-commit"), "run", "--files", *files],
        cwd=folder, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_the_hooks_stop_a_commit_with_a_lint_error(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".pre-commit-config.yaml").write_text(
        (REPO / ".pre-commit-config.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1])
    (tmp_path / "good.py").write_text('print("hello")\n', encoding="utf-8")
    (tmp_path / "bad.py").write_text('import os\n\nprint("hello")\n', encoding="utf-8")
    subprocess.run(["git", "add", "."], cwd=tmp_path, check=True)
    assert pre_commit(tmp_path, "good.py").returncode == 0
    bad = pre_commit(tmp_path, "bad.py")
    assert bad.returncode == 1
    assert "F401" in bad.stdout  # `os` imported but unused
