"""The README's streaming example of the queue protocol runs as written against a served app."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a real server

README = Path(__file__).resolve().parent.parent / "README.md"


def queue_protocol_example() -> str:
    """The Python block after 'Latency-sensitive clients' in the README."""
    text = README.read_text()
    return re.search(r"\*\*Latency-sensitive clients\*\*.*?```python\n(.*?)```", text, re.S).group(1)


def test_the_readme_queue_protocol_example_streams_previews_and_fetches_the_png(app_server, tmp_path):
    code = queue_protocol_example().replace("http://127.0.0.1:7860/", app_server.url)
    # The example's loop keeps what it is given; then it prints how many of those messages held a
    # preview (an inline JPEG), and whether the bytes it fetched are a PNG.
    code = code.replace("                ...  ", "                seen.append(json.dumps(message))  ")
    script = tmp_path / "example.py"
    script.write_text(
        "seen = []\n" + code + "print(sum('data:image/jpeg;base64,' in message for message in seen), "
        "png[:8] == b'\\x89PNG\\r\\n\\x1a\\n')\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    previews, is_png = done.stdout.split()
    assert is_png == "True"
    assert int(previews) >= 1  # the last step's preview at least (one the client was busy for may be skipped)
