"""The kill switch's fast path: halt from the terminal's input thread.

Textual delivers a key through the app's message queue, behind whatever the
UI is rendering; at a full-speed feed that measured 0.4-0.6 s from key press
to the halt being sent (benchmarks/halt_latency.py). A kill switch cannot
wait behind a table repaint, so the driver hands each key to the app on the
input thread first; the halt key is sent to the engine from there, then the
key continues through Textual as usual (closing a dialog, say), where the
action sees that the halt already went and does not send it again.
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.driver import Driver


def with_kill_switch(base: type[Driver]) -> type[Driver]:
    """``base`` (the platform driver) with keys offered to the app first."""

    class KillSwitchDriver(base):  # type: ignore[misc, valid-type]
        def process_message(self, message: Any) -> None:
            if isinstance(message, events.Key):
                hook = getattr(self._app, "on_input_thread_key", None)
                if hook is not None:
                    hook(message.key)
            super().process_message(message)

    KillSwitchDriver.__name__ = f"KillSwitch{base.__name__}"
    return KillSwitchDriver
