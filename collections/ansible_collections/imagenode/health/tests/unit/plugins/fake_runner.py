# Copyright (c) 2026 imagenode-health contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A Runner that answers from recorded tool output instead of running anything."""

import os

from ansible_collections.imagenode.health.plugins.module_utils.command_runner import CommandResult


class FakeRunner(object):
    """answers: {argv prefix tuple: (rc, stdout[, stderr]) or None (tool missing)}.

    The longest matching prefix wins; a command with no answer is "not found".
    Every call is recorded in .calls.
    """

    def __init__(self, answers=None):
        self.answers = dict(answers or {})
        self.calls = []

    def which(self, name):
        return None if self._answer([name]) is None else "/usr/bin/" + os.path.basename(name)

    def _answer(self, argv):
        best = None
        for prefix, answer in self.answers.items():
            if tuple(argv[:len(prefix)]) == tuple(prefix):
                if best is None or len(prefix) > len(best[0]):
                    best = (prefix, answer)
        return None if best is None else best[1]

    def run(self, argv, timeout=None):
        argv = [str(arg) for arg in argv]
        self.calls.append(argv)
        answer = self._answer(argv)
        if answer is None:
            return CommandResult(argv, error="%s not found" % argv[0])
        if isinstance(answer, CommandResult):
            return answer
        rc, stdout = answer[0], answer[1]
        stderr = answer[2] if len(answer) > 2 else ""
        return CommandResult(argv, rc, stdout, stderr)


def write_tree(root, files):
    """Create {relative path: text} under root (a fake /sys or /proc)."""
    for path, text in files.items():
        full = os.path.join(str(root), path.lstrip("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as handle:
            handle.write(text)
