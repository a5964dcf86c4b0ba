# mlkube's stdout callback: ansible.builtin.default plus the progress of long commands.

from __future__ import annotations

DOCUMENTATION = """
    name: progress
    type: stdout
    short_description: default Ansible screen output, plus a progress line at each poll of a long command
    description:
      - Prints what ansible.builtin.default prints, except for tasks whose result carries C(job_progress)
        (the long_command action, ansible/plugins/action/long_command.py).
      - Each retry of such a task prints the time it has run and the last meaningful line of its log instead of
        C(FAILED - RETRYING); the first one also names the log. A line that has not changed for a minute says how
        long the log has been quiet.
      - A failure of such a task prints its message as it is (the exit code and the last lines of the log) rather
        than the whole result as JSON; with -v and more the whole result is printed as usual.
    extends_documentation_fragment:
      - default_callback
      - result_format_callback
    requirements:
      - set as stdout_callback in configuration (ansible/ansible.cfg)
"""

from collections.abc import Mapping

from ansible.plugins.callback.default import CallbackModule as DefaultCallback

from ansible import constants as C

QUIET_NOTICE = 60  # seconds without new output after which a progress line says so


def duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def job_progress(result) -> Mapping | None:
    progress = result.result.get("job_progress")
    return progress if isinstance(progress, Mapping) else None


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "progress"

    def __init__(self) -> None:
        super().__init__()
        self._logs_named: set[tuple[str, str]] = set()

    def v2_runner_retry(self, result) -> None:
        progress = job_progress(result)
        if progress is None:
            super().v2_runner_retry(result)
            return
        if self._last_task_banner != result.task._uuid:
            self._print_task_banner(result.task)
        self._handle_warnings_and_exception(result)

        host_label = self.host_label(result)
        lines = [str(line) for line in progress.get("lines") or []]
        head = f"  ... [{host_label}] {duration(progress.get('elapsed', 0))}"
        key = (result.task._uuid, host_label)
        if key not in self._logs_named:
            self._logs_named.add(key)
            head += f" (log: {progress.get('log')})"
        head += ": " + (lines[0] if lines else "(no output yet)")
        quiet = progress.get("quiet", 0)
        if lines and quiet >= QUIET_NOTICE:
            head += f"  [quiet for {duration(quiet)}]"
        self._display.display("\n".join([head] + ["        " + line for line in lines[1:]]))

    def v2_runner_on_failed(self, result, ignore_errors: bool = False) -> None:
        if job_progress(result) is None or not result.result.get("msg") or self._display.verbosity > 0:
            super().v2_runner_on_failed(result, ignore_errors)
            return
        if self._last_task_banner != result.task._uuid:
            self._print_task_banner(result.task)
        # The message below is the error: not again as an exception summary above it.
        result.result.pop("exception", None)
        self._handle_warnings(result.result)
        if self.get_option("show_task_path_on_failure"):
            self._print_task_path(result.task)
        self._display.display(
            f"fatal: [{self.host_label(result)}]: FAILED! => {result.result['msg']}",
            color=C.COLOR_ERROR,
            stderr=self.get_option("display_failed_stderr"),
        )
        if ignore_errors:
            self._display.display("...ignoring", color=C.COLOR_SKIP)
