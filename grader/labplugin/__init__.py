"""The pytest plugin behind every lab's tests: load the student's file, bound it, explain failures.

``labs/conftest.py`` registers it (``pytest_plugins = ["grader.labplugin"]``); one concept per module:

- ``student``: the seam. The ``student`` fixture loads ``labs/NN/<file>`` (or ``solutions/NN``
  with ``--solution``) and plugs it into the reference framework; ``lab`` is its manifest entry;
- ``serving``: the ``serve`` fixture (an app in the test's loop; ``database_url`` is the
  repository's one, from ``conftest.py``);
- ``watchdog``: an async test fails, naming the line, when the student's code blocks the event loop
  or leaves a task running;
- ``guard``: no phase of a test (setup, call, teardown) hangs a lab command;
- ``messages``: every failure names its task, the README section and the hint command;
- ``options``: ``--solution``, ``--task N`` and ``grader check``'s ``--mutants``;
- ``context``: what they all look up (a test's lab and task, the student's files, the limits).
"""

pytest_plugins = [
    "grader.labplugin.options",
    "grader.labplugin.student",
    "grader.labplugin.serving",
    "grader.labplugin.watchdog",
    "grader.labplugin.guard",
    "grader.labplugin.messages",
]
