"""The embedded default's broker: kombu's filesystem transport, with each message written whole
before it becomes visible.

kombu's own `_put` creates the message file, then locks it, then writes; a worker polling the
folder can take the file in between and read it empty (JSONDecodeError), which kills the worker.
Here the message is written under a name no queue reads (`….msg.part`) and renamed into place,
which is atomic on one filesystem. Registered as the `filesystem` transport in config/celery.py.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + ".part"  # `<stamp>_<uuid>.<queue>.msg.part`: no queue's name
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
