"""Start a scenario the way a user of the stand-in would: with ``FRAMEWORK_MODE=llmswitch``,
``llmswitch.install_as_litellm()`` is the first line of the program; otherwise LiteLLM
itself runs. Usage: ``python launch.py scenarios/<name>_scenario.py``."""

import os
import runpy
import sys

if os.environ.get("FRAMEWORK_MODE") == "llmswitch":
    import llmswitch

    llmswitch.install_as_litellm()

sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
