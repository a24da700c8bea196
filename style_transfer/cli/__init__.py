"""What the command-line programs share: flags generated from a config dataclass, the one-line error
contract, signals that stop a run after its current step, and importing TensorFlow without its banner.

`style-transfer` (run.py) parses absl's global FLAGS. train_fast.py and apply.py each keep their flags in
their own `flags.FlagValues`, so all three can be imported into one process (tests, notebooks) although
they share flag names such as --style and --content_weight.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import sys
import textwrap
import threading
from typing import Callable, Sequence

from absl import flags, logging

from style_transfer.core.errors import ConfigError, ImageError, OutputError, OutputExistsError, StyleTransferError
from style_transfer.core.files import import_tensorflow_quietly, uncaptured_stderr  # noqa: F401 (the commands' import)


class UsageError(Exception):
    """A mistake in the command line; exit status 2."""


@contextlib.contextmanager
def outputs_as_usage_errors():
    """Within it, an output that exists or cannot be written is a UsageError (the command line asked for it)."""
    try:
        yield
    except OutputExistsError as error:
        raise UsageError(f"{error} (pass --overwrite to replace it)") from None
    except OutputError as error:
        raise UsageError(f"cannot write outputs: {error}") from None
    except ImageError as error:
        raise UsageError(str(error)) from None


def define_config_flags(config_class, defaults: dict, flag_values: flags.FlagValues = flags.FLAGS,
                        skip: tuple[str, ...] = (), module_name: str | None = None) -> None:
    """One flag per field of the dataclass `config_class` (except `skip`), with the default from `defaults`
    (a flat dict of the text each flag takes) and the help text (and choices) from the field's metadata.
    `module_name`: the module the flags belong to in absl's --help (default: this one)."""
    if module_name == "__main__":  # absl files a script's own flags under its path (python -m pkg.module)
        module_name = sys.argv[0]
    for field in dataclasses.fields(config_class):
        if field.name in skip:
            continue
        default = defaults[field.name]
        help_text = field.metadata["help"]
        if field.metadata.get("choices"):
            help_text += f" One of: {', '.join(field.metadata['choices'])}."
        define = {"bool": flags.DEFINE_bool, "int": flags.DEFINE_integer,
                  "float": flags.DEFINE_float}.get(field.type, flags.DEFINE_string)
        define(field.name, default, help_text, flag_values=flag_values, module_name=module_name)


def config_changes(config_class, flag_values: flags.FlagValues) -> dict:
    """{field: value} for every config flag given explicitly on the command line."""
    return {field.name: flag_values[field.name].value for field in dataclasses.fields(config_class)
            if field.name in flag_values and flag_values[field.name].present}




class StopOnSignal:
    """While active, SIGINT and SIGTERM ask the run to stop after its current step. A second one quits at once
    with exit status 128 + its number, even in the middle of a long TensorFlow operation, except while results
    are being saved: `saving` makes every signal wait for that. `received` is the first signal's number.

    Python runs signal handlers in the main thread only, between bytecodes: one that is inside a TensorFlow
    operation runs none until the operation returns, late for a long step and never for a stalled input
    pipeline. So the C-level handler also writes each signal's number to a socket (signal.set_wakeup_fd), and
    a thread reading it answers at once.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, program: str = "style-transfer", what: str = "save a checkpoint"):
        self.program = program
        self.what = what
        self.stop = threading.Event()
        self.received: int | None = None
        self.saving = False
        self._previous = {}
        self._lock = threading.Lock()
        self._signals_seen = 0
        self._wakeup = None  # (reading socket, writing socket, the wakeup fd to put back)
        self._watcher: threading.Thread | None = None

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():  # signals can only be handled there
            return self
        reader, writer = socket.socketpair()
        writer.setblocking(False)  # a full buffer drops a byte rather than blocking the handler
        self._wakeup = (reader, writer, signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False))
        self._watcher = threading.Thread(target=self._watch, args=(reader,), name=f"{self.program}-signals",
                                         daemon=True)
        self._watcher.start()
        for number in self.SIGNALS:
            self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *_):
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        if self._wakeup is not None:
            reader, writer, previous = self._wakeup
            signal.set_wakeup_fd(previous)
            writer.close()  # the watcher reads the end of the stream and returns
            self._watcher.join()
            reader.close()

    def _watch(self, reader: socket.socket) -> None:
        while True:
            try:
                numbers = reader.recv(64)
            except OSError:
                return
            if not numbers:
                return
            for number in numbers:  # other handled signals are written there too
                if number in self.SIGNALS:
                    self._arrived(number)

    def _arrived(self, number: int) -> None:
        """Every signal, as soon as it arrives (the watcher's thread)."""
        with self._lock:
            self._signals_seen += 1
            again = self._signals_seen > 1
        name = signal.Signals(number).name
        if self.saving:  # half-written results would lose the run: finish writing, then stop
            self.received = self.received or number
            self._say(f"{name} received: stopping once the results are saved")
        elif again:  # asked twice: give up without saving
            self._say(f"{name} received again: quitting at once, without saving")
            os._exit(128 + number)
        else:
            self._first(number)

    def _handle(self, number, frame):
        """The Python-level handler (main thread): sets `stop` as soon as the main thread runs Python, so code
        that sends itself a signal sees it at once. Quitting is the watcher's."""
        if not self.saving:
            self._first(number)

    def _first(self, number: int) -> None:
        with self._lock:
            if self.stop.is_set():
                return
            self.received = number
            self.stop.set()
        self._say(f"{signal.Signals(number).name} received: stopping after this step to {self.what} (send it "
                  "again to quit at once)")

    def _say(self, message: str) -> None:
        try:
            with uncaptured_stderr(timeout=1):  # not into a decoder's capture; quitting waits a second at most
                print(f"\n{self.program}: {message}", file=sys.stderr, flush=True)
        except (OSError, ValueError):  # stderr closed: the signal still does its work
            pass


def fail(program: str, message: str, status: int):
    """One line on stderr, `program: error: message`, and exit with `status`."""
    with uncaptured_stderr():
        print(f"{program}: error: {message}", file=sys.stderr, flush=True)
    sys.exit(status)


def run_with_errors(program: str, main: Callable[[list[str]], int], argv: list[str]) -> int:
    """Calls main(argv), turning the package's errors into one line and an exit status: 2 for usage and
    config mistakes, 1 for bad inputs and failed runs, 130 for Ctrl-C outside a run."""
    try:
        return main(argv)
    except ConfigError as error:
        fail(program, f"--{error.field}: {error.message}", 2)
    except OutputExistsError as error:
        fail(program, f"{error} (pass --overwrite to replace it)", 1)
    except UsageError as error:
        fail(program, str(error), 2)
    except StyleTransferError as error:
        fail(program, str(error), 1)
    except KeyboardInterrupt:
        fail(program, "interrupted", 130)


HELP_WIDTH = 110


def usage(doc: str, flag_values: flags.FlagValues, names: Sequence[str],
          groups: Sequence[tuple[str, Sequence[str]]]) -> str:
    """A command's --help, laid out alike for the three: what it does, then its flags (`names`) group by group,
    the required ones first and the most used next ("Required", "Most used", then by topic). A flag in no
    group comes last, under "Other" (a test keeps that group empty)."""
    grouped = {name for _, members in groups for name in members}
    others = sorted(name for name in names if name not in grouped)
    lines = [doc.strip(), ""]
    for title, members in [*groups, *([("Other", others)] if others else [])]:
        lines.append(f"{title}:")
        for name in members:
            flag = flag_values[name]
            switch = f"--[no]{name}" if flag.boolean else f"--{name}"
            default = f" (default: {flag.default_as_str})" if flag.default is not None else ""
            lines.extend(textwrap.wrap(f"{switch}: {flag.help}{default}", HELP_WIDTH, initial_indent="  ",
                                       subsequent_indent="      ", break_on_hyphens=False))
        lines.append("")
    return "\n".join(lines)


class Command:
    """A program whose flags live in their own FlagValues: `command.flags`, defined by its module.

    `command.run(main, argv)` parses argv (argv[0] is the program name), prints --help, and runs `main` under
    `run_with_errors` with what remains: argv[0] and the positional arguments, as absl's app.run passes them.
    It returns the exit status.
    """

    def __init__(self, program: str, doc: str):
        self.program = program
        self.doc = doc
        self.flags = flags.FlagValues()
        self.groups: Sequence[tuple[str, Sequence[str]]] = ()  # set by the module once its flags are defined

    def usage(self) -> str:
        return usage(self.doc, self.flags, list(self.flags), self.groups)

    def parse(self, argv: list[str]) -> list[str]:
        """Parses the flags; UsageError for unknown or malformed ones. Returns argv[0] and the positional
        arguments."""
        self.flags.unparse_flags()
        try:
            return self.flags(argv)
        except flags.Error as error:
            raise UsageError(str(error)) from None

    def run(self, main: Callable[[list[str]], int], argv: list[str]) -> int:
        if any(arg in ("-h", "--help", "--helpshort", "-?") for arg in argv[1:]):
            print(self.usage(), end="")
            return 0
        if not flags.FLAGS.is_parsed():  # absl logging warns until the global flags are parsed
            flags.FLAGS.mark_as_parsed()
        logging.set_verbosity(logging.WARNING)
        try:
            positional = self.parse(argv)
        except UsageError as error:
            fail(self.program, str(error), 2)
        return run_with_errors(self.program, main, positional)

    def console_main(self, main: Callable[[list[str]], int]) -> None:
        try:
            status = self.run(main, sys.argv)
        except SystemExit as exit_:
            status = exit_.code
        sys.exit(status)
