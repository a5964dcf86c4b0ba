#!/usr/bin/python
# mlkube: a command that can run for minutes, in the background, with its output in a log file.

from __future__ import annotations

DOCUMENTATION = r"""
module: long_command
short_description: Run a long command in the background and report its progress while it runs
description:
  - Runs O(argv) detached from the connection, with its stdout and stderr appended to O(log) as they come,
    and answers each call with whether it finished plus the last meaningful lines of the log.
  - Use it through the action plugin of the same name, as a task retried with C(until) (see the example); the
    first try starts the command, every retry polls it, and the C(progress) stdout callback prints each poll's
    last log line, so the task shows what it is doing at least every C(delay) seconds.
  - When the command has finished, the result has the fields of M(ansible.builtin.command) (C(rc), C(stdout),
    C(stderr), C(cmd), C(start), C(end), C(delta)); a non-zero exit code fails the task with one message, the
    exit code and the last lines of the log.
  - Nothing runs in check mode (like M(ansible.builtin.command) without C(creates)).
  - When no poll comes for a while (the playbook was interrupted), the command is stopped; a new run that finds
    an earlier run of the same O(log) still going stops that one first.
options:
  argv:
    description: The command and its arguments (no shell).
    type: list
    elements: str
    required: true
  log:
    description: File that receives the command's stdout and stderr (replaced at each run; its directory is created).
    type: path
    required: true
  chdir:
    description: Directory to run the command in.
    type: path
  timeout:
    description:
      - Seconds after which the command is stopped and the task fails. The action plugin sets it to
        C(retries) x C(delay) when it is 0.
    type: int
    default: 0
  progress_lines:
    description: How many of the log's last meaningful lines each poll reports.
    type: int
    default: 1
  tail_lines:
    description: How many of the log's last meaningful lines a failure reports.
    type: int
    default: 20
  ignore:
    description: Regular expression of log lines that are not meaningful (left out of the progress and the tail).
    type: str
  job_id:
    description: Set by the action plugin; identifies one run of the task on one host.
    type: str
  heartbeat:
    description: Set by the action plugin; seconds without a poll after which the command is stopped (0 never).
    type: int
    default: 0
"""

EXAMPLES = r"""
- name: Build the binaries
  long_command:
    argv: ["{{ role_path }}/files/build.sh", all]
    log: "{{ mlkube_cache }}/logs/build.log"
    ignore: "^go: downloading "
  register: build
  until: build is finished
  retries: 480  # x delay: the command's time limit (2 h)
  delay: 15
  changed_when: "'go build' in build.stdout"
"""

RETURN = r"""
finished:
  description: Whether the command has finished.
  type: bool
  returned: always
job_progress:
  description: C(lines) (the last meaningful lines of the log), C(elapsed) and C(quiet) (seconds since the log last
    grew), C(log).
  type: dict
  returned: always
rc:
  description: The command's exit code (negative when a signal ended it).
  type: int
  returned: finished
stdout:
  description: The command's standard output (empty while it runs).
  type: str
  returned: always
stderr:
  description: The command's standard error (empty while it runs).
  type: str
  returned: always
"""

import datetime
import json
import os
import re
import select
import shlex
import signal
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
FIRST_WAIT = 5  # seconds the first call waits, so that a quick command needs no poll
STOP_GRACE = 10  # seconds between SIGTERM and SIGKILL


def now() -> float:
    return time.time()


def read_json(path: str) -> dict | None:
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def write_json(path: str, data: dict) -> None:
    with open(path + ".tmp", "w") as handle:
        json.dump(data, handle)
    os.rename(path + ".tmp", path)


def remove(*paths: str) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def start_ticks(pid: int) -> str | None:
    """The process' start time in clock ticks (tells a pid from a later one that reuses it); None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def current_directory() -> str:
    try:
        return os.getcwd()
    except OSError:
        return "/"


def alive(pid: int | None, ticks: str | None) -> bool:
    return bool(pid) and ticks is not None and start_ticks(pid) == ticks


def duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def meaningful_lines(log: str, count: int, ignore: re.Pattern | None) -> list[str]:
    """The last `count` non-blank lines of the log, without colours, carriage-return redraws or ignored lines."""
    if count <= 0:
        return []
    try:
        with open(log, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 256 * 1024))
            data = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    found: list[str] = []
    for line in reversed(data.split("\n")):
        line = ANSI.sub("", line.rstrip("\r").rsplit("\r", 1)[-1]).rstrip()
        if not line.strip() or (ignore and ignore.search(line)):
            continue
        found.append(line if len(line) <= 300 else line[:297] + "...")
        if len(found) == count:
            break
    return found[::-1]


def stop(pgid: int, grace: float = STOP_GRACE) -> None:
    """SIGTERM the process group, SIGKILL it after `grace` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = now() + grace
        while now() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


class Job:
    def __init__(self, params: dict) -> None:
        self.argv = [str(a) for a in params["argv"]]
        self.log = os.path.abspath(params["log"])
        self.chdir = params["chdir"] or current_directory()  # where ansible.builtin.command would run it
        self.timeout = params["timeout"]
        self.heartbeat = params["heartbeat"]
        self.job_id = params["job_id"]
        self.state_path = self.log + ".job.json"
        self.result_path = self.log + ".result.json"
        self.ignore = re.compile(params["ignore"]) if params["ignore"] else None
        self.notified = False

    @property
    def label(self) -> str:
        text = shlex.join([os.path.basename(self.argv[0])] + self.argv[1:])
        return text if len(text) <= 120 else text[:117] + "..."

    # -- start -------------------------------------------------------------------------------------

    def take_over(self, state: dict) -> str | None:
        """Stops an earlier run of this log's command that is still going; says so."""
        if not alive(state.get("pgid"), state.get("ticks")):
            return None
        stop(state["pgid"])
        if alive(state.get("pid"), state.get("pid_ticks")):
            stop(state["pid"], grace=2)
        earlier = shlex.join(
            [os.path.basename(str(state.get("argv", ["?"])[0]))] + [str(a) for a in state.get("argv", [])[1:]]
        )
        return (
            f"stopped an earlier run of {earlier[:120]} that was still going (pid {state['pgid']}, "
            f"started {duration(now() - state.get('started', now()))} ago; an interrupted playbook?)"
        )

    def start(self, note: str | None) -> dict:
        """Forks the daemon that runs the command; returns once the command has started (or failed to)."""
        os.makedirs(os.path.dirname(self.log), exist_ok=True)
        remove(self.result_path, self.log)
        reader, writer = os.pipe()
        child = os.fork()
        if child == 0:
            try:
                os.close(reader)
                os.setsid()
                if os.fork():
                    os._exit(0)
                self.daemon(writer, note)
            except BaseException as error:
                if not self.notified:  # the module still waits on the pipe: tell it why
                    os.write(writer, json.dumps({"error": repr(error), "errno": 1}).encode())
            finally:
                os._exit(0)
        os.close(writer)
        os.waitpid(child, 0)
        with os.fdopen(reader, "rb") as handle:
            message = handle.read()
        try:
            return json.loads(message or b'{"error": "the background process did not start", "errno": 1}')
        except ValueError:
            return {"error": message.decode("utf-8", "replace"), "errno": 1}

    def daemon(self, notify: int, note: str | None) -> None:
        """Runs in the detached grandchild: the command, its log, its time limit and the heartbeat."""
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, notify)
        os.closerange(notify + 1, 1024)
        os.chdir("/")
        log = open(self.log, "ab", buffering=0)
        if note:
            log.write(f"[long_command] {note}\n".encode())
        started = now()
        env = dict(os.environ)
        if "PYTHONPATH" in env:  # without AnsiballZ's own paths, as AnsibleModule.run_command does
            paths = [
                p for p in env["PYTHONPATH"].split(":") if p and not p.endswith(("/ansible_modlib.zip", "/debug_dir"))
            ]
            if paths:
                env["PYTHONPATH"] = ":".join(paths)
        try:
            proc = subprocess.Popen(
                self.argv,
                cwd=self.chdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as error:
            os.write(notify, json.dumps({"error": str(error), "errno": error.errno or 1}).encode())
            return
        state = {
            "job_id": self.job_id,
            "argv": self.argv,
            "started": started,
            "timeout": self.timeout,
            "pgid": proc.pid,
            "ticks": start_ticks(proc.pid),
            "pid": os.getpid(),
            "pid_ticks": start_ticks(os.getpid()),
        }
        write_json(self.state_path, state)
        os.write(notify, b"{}")
        os.close(notify)
        self.notified = True

        buffers = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
        stdout_fd, stderr_fd = proc.stdout.fileno(), proc.stderr.fileno()
        open_fds = list(buffers)
        stopped, stopped_at = None, 0.0
        while True:
            ready = select.select(open_fds, [], [], 1.0)[0] if open_fds else []
            if not open_fds:
                time.sleep(1.0)
            for fd in ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    open_fds.remove(fd)
                    continue
                log.write(chunk)
                buffers[fd] += chunk
            # Done when the command has exited and its pipes are closed or quiet (a daemon it started may
            # hold them open, as ansible.builtin.command allows).
            if proc.poll() is not None and (not open_fds or not ready):
                break
            if stopped is None:
                if self.timeout and now() - started > self.timeout:
                    stopped = f"did not finish within {duration(self.timeout)} and was stopped"
                else:
                    try:
                        last_poll = os.stat(self.state_path).st_mtime
                    except OSError:
                        last_poll = 0.0
                    if self.heartbeat and now() - last_poll > self.heartbeat:
                        stopped = f"was stopped: no poll for {duration(now() - last_poll)} (the playbook is gone)"
                if stopped:
                    stopped_at = now()
                    log.write(f"\n[long_command] {self.label} {stopped}\n".encode())
                    self.signal(proc.pid, signal.SIGTERM)
            elif now() - stopped_at > STOP_GRACE:
                self.signal(proc.pid, signal.SIGKILL)
        rc = proc.wait()
        ended = now()
        write_json(
            self.result_path,
            {
                "job_id": self.job_id,
                "rc": rc,
                "started": started,
                "ended": ended,
                "stopped": stopped,
                "stdout": buffers[stdout_fd].decode("utf-8", "replace"),
                "stderr": buffers[stderr_fd].decode("utf-8", "replace"),
            },
        )

    @staticmethod
    def signal(pgid: int, sig: int) -> None:
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass

    # -- poll --------------------------------------------------------------------------------------

    def progress(self, state: dict, count: int) -> dict:
        try:
            quiet = now() - os.stat(self.log).st_mtime
        except OSError:
            quiet = now() - state.get("started", now())
        return {
            "lines": meaningful_lines(self.log, count, self.ignore),
            "elapsed": round(now() - state.get("started", now()), 1),
            "quiet": round(quiet, 1),
            "log": self.log,
        }

    def wait_for_result(self, seconds: float) -> dict | None:
        deadline = now() + seconds
        while True:
            result = read_json(self.result_path)
            if result is not None and result.get("job_id") == self.job_id:
                return result
            if now() >= deadline:
                return None
            time.sleep(0.2)


def stamp(seconds: float) -> str:
    return str(datetime.datetime.fromtimestamp(seconds))


def tail_text(job: Job, count: int) -> str:
    lines = meaningful_lines(job.log, count, job.ignore)
    return "\n".join("    " + line for line in lines) if lines else "    (nothing)"


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "argv": {"type": "list", "elements": "str", "required": True},
            "log": {"type": "path", "required": True},
            "chdir": {"type": "path"},
            "timeout": {"type": "int", "default": 0},
            "progress_lines": {"type": "int", "default": 1},
            "tail_lines": {"type": "int", "default": 20},
            "ignore": {"type": "str"},
            "job_id": {"type": "str"},
            "heartbeat": {"type": "int", "default": 0},
        },
        supports_check_mode=False,
    )
    params = module.params
    if not params["argv"]:
        module.fail_json(msg="argv is empty: give the command to run")
    if not params["job_id"]:
        module.fail_json(msg="long_command runs through its action plugin (ansible/plugins/action/long_command.py)")
    job = Job(params)

    state = read_json(job.state_path)
    if state is None or state.get("job_id") != job.job_id:
        note = job.take_over(state) if state else None
        if note:
            module.warn(note)
        started = job.start(note)
        if "error" in started:
            module.fail_json(
                msg=f"{job.label} could not start: {started['error']}",
                rc=started["errno"],
                cmd=job.argv,
                stdout="",
                stderr="",
                finished=True,
                job_progress={"lines": [], "elapsed": 0, "quiet": 0, "log": job.log},
            )
        result = job.wait_for_result(FIRST_WAIT)
        state = read_json(job.state_path) or {}
    else:
        try:
            os.utime(job.state_path)  # the heartbeat
        except OSError:
            pass
        result = job.wait_for_result(0)
        if result is None and not alive(state.get("pid"), state.get("pid_ticks")):
            result = job.wait_for_result(2)
            if result is None:
                module.fail_json(
                    msg=f"{job.label}: its background process (pid {state.get('pid')}) is gone without a result; "
                    f"last lines of {job.log}:\n" + tail_text(job, params["tail_lines"]),
                    rc=-1,
                    cmd=job.argv,
                    stdout="",
                    stderr="",
                    finished=True,
                    job_progress=job.progress(state, 0),
                )

    if result is None:
        module.exit_json(
            changed=False,
            finished=False,
            stdout="",
            stderr="",
            cmd=job.argv,
            job_progress=job.progress(state, params["progress_lines"]),
        )

    remove(job.state_path, job.result_path)
    rc = result["rc"]
    elapsed = result["ended"] - result["started"]
    final = {
        "changed": True,
        "finished": True,
        "rc": rc,
        "cmd": job.argv,
        "log": job.log,
        "stdout": result["stdout"].rstrip("\r\n"),
        "stderr": result["stderr"].rstrip("\r\n"),
        "start": stamp(result["started"]),
        "end": stamp(result["ended"]),
        "delta": str(datetime.timedelta(seconds=round(elapsed, 6))),
        "job_progress": {
            "lines": meaningful_lines(job.log, params["progress_lines"], job.ignore),
            "elapsed": round(elapsed, 1),
            "quiet": 0,
            "log": job.log,
        },
    }
    if rc != 0 or result["stopped"]:
        what = result["stopped"] or f"failed with exit code {rc} after {duration(elapsed)}"
        final["timed_out"] = bool(result["stopped"])
        module.fail_json(
            msg=f"{job.label} {what}; last lines of {job.log}:\n" + tail_text(job, params["tail_lines"]), **final
        )
    module.exit_json(**final)


if __name__ == "__main__":
    main()
