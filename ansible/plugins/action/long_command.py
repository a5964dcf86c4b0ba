# mlkube: the controller side of the long_command module (ansible/plugins/modules/long_command.py).
"""Turns a task retried with `until` into start-then-poll calls of the long_command module.

The first try of the task starts the command in the background on the host; each retry polls it. The
retries are Ansible's own (`until: R is finished`, `retries`, `delay`), so each poll is a `v2_runner_retry`
event that the `progress` stdout callback prints with the command's last log line. This plugin adds what
the module needs from the task: an id for this run of the task on this host (a retry polls, a new run
starts afresh), the time limit (`retries` x `delay` unless the task sets `timeout`) and the heartbeat
after which a job nobody polls any more is stopped. Check mode runs nothing, as ansible.builtin.command.
"""

from __future__ import annotations

import hashlib
import json

from ansible.errors import AnsibleActionFail
from ansible.utils.vars import merge_hash

from ansible.plugins.action import ActionBase

# A progress line at least every 30 s: the delay between polls plus the time a poll takes.
MAX_DELAY = 25


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp

        args = dict(self._task.args)
        if {"job_id", "heartbeat"} & set(args):
            raise AnsibleActionFail("job_id and heartbeat are set by the long_command action itself")
        if not self._task.until:
            raise AnsibleActionFail(
                "long_command polls through the task's retries: register its result (say as R) and add "
                f"`until: R is finished`, `retries` and `delay` (at most {MAX_DELAY} s)"
            )
        if self._task.retries is None:
            raise AnsibleActionFail("long_command needs `retries`: retries x delay is the command's time limit")
        if not 0 < self._task.delay <= MAX_DELAY:
            raise AnsibleActionFail(
                f"long_command prints progress at each retry: `delay` must be between "
                f"1 and {MAX_DELAY} s (got {self._task.delay})"
            )

        if self._task.check_mode:
            result.update(
                changed=False,
                skipped=True,
                finished=True,
                rc=0,
                stdout="",
                stderr="",
                cmd=args.get("argv"),
                msg="Command would have run if not in check mode",
            )
            return result

        if not args.get("timeout"):
            args["timeout"] = max(1, self._task.retries) * self._task.delay
        args["heartbeat"] = 3 * self._task.delay + 60
        identity = [self._task._uuid, task_vars.get("inventory_hostname", ""), args]
        args["job_id"] = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:24]

        result = merge_hash(
            result,
            self._execute_module(module_name="ansible.legacy.long_command", module_args=args, task_vars=task_vars),
        )
        self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
